"""Altair charts shared by the dashboard and the static reports (same plots in both).

Every function takes plain DataFrames (the tables of a :class:`SuiteResult` or dashboard
queries) and returns an ``alt.Chart``; an empty frame gives a chart with a "no data" title.

Example:
    >>> chart = roc_chart(result.tables["roc"], result.metrics["roc_auc"].value)   # doctest: +SKIP
    >>> chart.save("roc.svg")                                                       # doctest: +SKIP
"""

import math

import altair as alt
import pandas as pd

from enrich.evaluate.bootstrap import Estimate

WIDTH, HEIGHT = 320, 260
AnyChart = alt.Chart | alt.LayerChart | alt.FacetChart


def _empty(title: str) -> alt.Chart:
    return alt.Chart(pd.DataFrame({"x": []})).mark_point().properties(
        title=f"{title}: no data", width=WIDTH, height=60)


def _diagonal() -> alt.Chart:
    line = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})
    return alt.Chart(line).mark_line(strokeDash=[4, 4], color="gray").encode(x="x", y="y")


def roc_chart(roc: pd.DataFrame, auc: float | None = None, title: str = "ROC curve"
              ) -> AnyChart:
    """ROC curve of P(bad) against the human bad label, with the chance diagonal."""
    if roc.empty:
        return _empty(title)
    label = f"{title} (AUC {auc:.3f})" if auc is not None and not math.isnan(auc) else title
    curve = alt.Chart(roc).mark_line(point=True).encode(
        x=alt.X("fpr:Q", title="false positive rate", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("tpr:Q", title="true positive rate", scale=alt.Scale(domain=[0, 1])),
        tooltip=["fpr", "tpr", "threshold"])
    return (_diagonal() + curve).properties(title=label, width=WIDTH, height=HEIGHT)


def reliability_chart(reliability: pd.DataFrame, title: str = "Reliability diagram"
                      ) -> AnyChart:
    """Observed bad rate per bin of predicted P(bad); on the diagonal = calibrated."""
    if reliability.empty:
        return _empty(title)
    points = alt.Chart(reliability).mark_line(point=True).encode(
        x=alt.X("mean_predicted:Q", title="mean predicted P(bad)",
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("observed:Q", title="observed bad rate", scale=alt.Scale(domain=[0, 1])),
        tooltip=["mean_predicted", "observed", "count"])
    sized = alt.Chart(reliability).mark_circle().encode(
        x="mean_predicted:Q", y="observed:Q", size=alt.Size("count:Q", title="pairs"))
    return (_diagonal() + points + sized).properties(title=title, width=WIDTH, height=HEIGHT)


def confusion_chart(confusion: pd.DataFrame, title: str = "Confusion matrix") -> AnyChart:
    """Human class (rows) × predicted label (columns), counts in the cells."""
    if confusion.empty:
        return _empty(title)
    order = list(dict.fromkeys(confusion["human"].tolist() + confusion["predicted"].tolist()))
    base = alt.Chart(confusion).encode(
        x=alt.X("predicted:N", sort=order, title="model label"),
        y=alt.Y("human:N", sort=order, title="human label"))
    cells = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")),
                                    tooltip=["human", "predicted", "count"])
    text = base.mark_text(fontSize=13).encode(text="count:Q")
    return (cells + text).properties(title=title, width=WIDTH * 0.8, height=HEIGHT * 0.8)


def distribution_chart(distribution: pd.DataFrame, title: str = "Model labels by human class"
                       ) -> AnyChart:
    """Stacked bars: how often the model gave each label, split by the human class."""
    if distribution.empty:
        return _empty(title)
    return alt.Chart(distribution).mark_bar().encode(
        x=alt.X("label:N", title="model label"), y=alt.Y("count:Q", title="pairs"),
        color=alt.Color("human_class:N", title="human"),
        tooltip=["label", "human_class", "count"]).properties(title=title, width=WIDTH,
                                                             height=HEIGHT)


def score_histogram(scores: pd.DataFrame, title: str = "P(bad) by human class") -> AnyChart:
    """Histogram of P(bad), coloured by the human class (separation = good ranking)."""
    if scores.empty:
        return _empty(title)
    return alt.Chart(scores).mark_bar().encode(
        x=alt.X("p_bad:Q", bin=alt.Bin(maxbins=20), title="P(bad)"),
        y=alt.Y("count():Q", title="pairs"),
        color=alt.Color("human_class:N", title="human")).properties(title=title, width=WIDTH,
                                                                    height=HEIGHT)


def estimates_frame(systems: dict[str, dict[str, Estimate]]) -> pd.DataFrame:
    """Long table ``system, metric, value, low, high`` from metrics of several systems."""
    rows = [{"system": system, "metric": name, "value": est.value, "low": est.low,
             "high": est.high} for system, metrics in systems.items()
            for name, est in metrics.items()]
    return pd.DataFrame(rows, columns=["system", "metric", "value", "low", "high"])


def metrics_chart(frame: pd.DataFrame, title: str = "Metrics with 95% CI") -> AnyChart:
    """Point and interval per metric and system (side by side for comparisons)."""
    frame = frame.dropna(subset=["value"])
    if frame.empty:
        return _empty(title)
    base = alt.Chart(frame).encode(y=alt.Y("system:N", title=None),
                                   color=alt.Color("system:N", legend=None))
    rules = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title="value"), x2="high:Q")
    points = base.mark_point(filled=True, size=70).encode(
        x="value:Q", tooltip=["system", "metric", "value", "low", "high"])
    return (rules + points).properties(width=WIDTH, height=22 * frame["system"].nunique()
                                       ).facet(row=alt.Row("metric:N", title=None)
                                               ).resolve_scale(x="independent"
                                                               ).properties(title=title)


def runs_over_time_chart(runs: pd.DataFrame, field: str, title: str) -> AnyChart:
    """A per-run quantity (rows, failures, tokens, rows/s) against the run's start time."""
    if runs.empty or field not in runs:
        return _empty(title)
    return alt.Chart(runs).mark_line(point=True).encode(
        x=alt.X("started_at:T", title="run started"), y=alt.Y(f"{field}:Q", title=title),
        color=alt.Color("job_name:N", title="job"),
        tooltip=["run_id", "job_name", "model", "prompt_version", field]).properties(
        title=title, width=WIDTH, height=200)


def length_histogram(lengths: pd.DataFrame, title: str = "Generated text length") -> AnyChart:
    """Histogram of generated text lengths in words."""
    if lengths.empty:
        return _empty(title)
    return alt.Chart(lengths).mark_bar().encode(
        x=alt.X("words:Q", bin=alt.Bin(maxbins=20), title="words"),
        y=alt.Y("count():Q", title="texts")).properties(title=title, width=WIDTH,
                                                        height=HEIGHT)
