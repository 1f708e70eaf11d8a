"""Labels suites: join a run's predicted labels to the golden human labels and score them.

One row per golden row (``row_id``) with the human side (``rating``, ``human_class``,
``is_bad``) and the model side (``label``, ``p_bad``; NaN when the row failed). Metrics are
computed on the rows with a prediction, except ``coverage`` and ``failure_rate`` (all rows).

Example:
    >>> frame = label_frame(golden, predictions, failed_ids, suite)   # doctest: +SKIP
    >>> label_metrics(frame, suite)["roc_auc"]                        # doctest: +SKIP
    Estimate(value=0.71, low=0.6, high=0.8, ...)
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from enrich.evaluate import metrics as m
from enrich.evaluate.bootstrap import Estimate, bootstrap, paired_difference
from enrich.evaluate.golden import numeric_column
from enrich.evaluate.suites import Suite

# metric → (rows it uses: "all" | "predicted", columns passed to the statistic, statistic)
# (numpy/scipy equivalents of the scikit-learn metrics: tests check they agree)
LABEL_STATS: dict[str, tuple[str, tuple[str, ...], Callable[..., float]]] = {
    "roc_auc": ("predicted", ("is_bad", "p_bad"), m.roc_auc),
    "kappa": ("predicted", ("is_bad", "pred_bad"), m.fast_kappa),
    "weighted_kappa": ("predicted", ("human_idx", "pred_idx"),
                       lambda a, b: m.fast_kappa(a, b, 3, "quadratic")),
    "spearman": ("predicted", ("relevance_score", "rating"), m.fast_spearman),
    "brier": ("predicted", ("is_bad", "p_bad"), m.fast_brier),
    "accuracy": ("predicted", ("human_class", "label"), m.accuracy),
    "coverage": ("all", ("has_prediction",), np.mean),
    "failure_rate": ("all", ("failed",), np.mean),
}
LOWER_IS_BETTER = frozenset({"brier", "failure_rate"})


def human_side(golden: pd.DataFrame, suite: Suite) -> pd.DataFrame:
    """``row_id, rating, human_class, is_bad, group`` from the golden rows."""
    human = suite.human
    assert human is not None
    classes = tuple(human.classes)
    frame = pd.DataFrame({"row_id": golden[suite.golden.id_column].astype(str)})
    if human.kind == "rating":
        rating = numeric_column(golden, human.column, suite.resolve(suite.golden.path))
        frame["rating"] = rating.to_numpy()
        frame["human_class"] = m.rating_classes(rating.to_numpy(), human.bad_below,
                                                human.good_from,
                                                _three(classes))
    else:
        frame["human_class"] = golden[human.column].astype(str).to_numpy()
        index = m.class_index(frame["human_class"].to_numpy(), classes)
        frame["rating"] = index.astype(float)
    frame["is_bad"] = (frame["human_class"] == classes[0]).to_numpy()
    frame["human_idx"] = m.class_index(frame["human_class"].to_numpy(), _three(classes))
    frame["group"] = (golden[human.group_column].astype(str).to_numpy()
                      if human.group_column else frame["row_id"])
    return frame


def _three(classes: tuple[str, ...]) -> tuple[str, ...]:
    """Classes padded/trimmed to worst, middle, best (for the 3-level ordinal metrics)."""
    if len(classes) == 3:
        return classes
    return (classes[0], "partial" if len(classes) == 2 else classes[len(classes) // 2],
            classes[-1])


def label_frame(golden: pd.DataFrame, predictions: pd.DataFrame, failed_ids: set[str],
                suite: Suite) -> pd.DataFrame:
    """Golden rows joined to predictions (left join: every golden row stays)."""
    assert suite.human is not None
    classes = tuple(suite.human.classes)
    frame = human_side(golden, suite).merge(
        predictions[["row_id", "label", "p_bad", "p_bad_source"]], on="row_id", how="left")
    frame["has_prediction"] = frame["p_bad"].notna()
    frame["failed"] = frame["row_id"].isin(failed_ids)
    frame["label"] = frame["label"].astype(object)
    frame["pred_bad"] = (frame["label"] == classes[0]).to_numpy()
    frame["pred_idx"] = m.class_index(frame["label"].to_numpy(), _three(classes))
    frame["relevance_score"] = 1.0 - frame["p_bad"]
    return frame


def _rows(frame: pd.DataFrame, scope: str) -> pd.DataFrame:
    return frame if scope == "all" else frame[frame["has_prediction"]]


def label_metrics(frame: pd.DataFrame, suite: Suite) -> dict[str, Estimate]:
    """Every metric of the suite with its bootstrap interval (groups resampled if set)."""
    boot = suite.bootstrap
    results = {}
    for name in suite.metric_names():
        scope, columns, statistic = LABEL_STATS[name]
        rows = _rows(frame, scope)
        groups = rows["group"].to_numpy() if suite.human and suite.human.group_column else None
        results[name] = bootstrap(statistic, *(rows[c].to_numpy() for c in columns),
                                  resamples=boot.resamples, level=boot.level, seed=boot.seed,
                                  groups=groups)
    return results


def label_differences(a: pd.DataFrame, b: pd.DataFrame, suite: Suite) -> dict[str, Estimate]:
    """B − A for every metric on the same golden rows (paired bootstrap).

    Agreement metrics use the rows both versions predicted, so a failure in one version does
    not move the other's score; coverage and failure rate use every row.
    """
    boot = suite.bootstrap
    both = a[["row_id", "group"]].assign(
        keep=a["has_prediction"].to_numpy() & b["has_prediction"].to_numpy())
    results = {}
    for name in suite.metric_names():
        scope, columns, statistic = LABEL_STATS[name]
        mask = np.ones(len(a), dtype=bool) if scope == "all" else both["keep"].to_numpy()
        groups = (both["group"].to_numpy()[mask]
                  if suite.human and suite.human.group_column else None)
        results[name] = paired_difference(
            statistic, [a[c].to_numpy()[mask] for c in columns],
            [b[c].to_numpy()[mask] for c in columns], resamples=boot.resamples,
            level=boot.level, seed=boot.seed, groups=groups)
    return results


def label_tables(frame: pd.DataFrame, suite: Suite) -> dict[str, pd.DataFrame]:
    """Data behind the plots: ROC curve, reliability diagram, confusion matrix, label counts."""
    assert suite.human is not None
    rows = frame[frame["has_prediction"]]
    classes = tuple(suite.human.classes)
    predicted_classes = tuple(dict.fromkeys([*classes, *rows["label"].dropna().astype(str)]))
    distribution = (frame.assign(label=frame["label"].fillna("(failed)"))
                    .groupby(["label", "human_class"]).size().rename("count").reset_index())
    return {
        "roc": m.roc_curve_frame(rows["is_bad"].to_numpy(), rows["p_bad"].to_numpy()),
        "reliability": m.reliability_frame(rows["is_bad"].to_numpy(), rows["p_bad"].to_numpy()),
        "confusion": m.confusion_frame(rows["human_class"].to_numpy(),
                                       rows["label"].astype(str).to_numpy(), predicted_classes),
        "distribution": distribution,
        "scores": rows[["row_id", "p_bad", "human_class", "is_bad"]].reset_index(drop=True),
    }


def p_bad_sources(frame: pd.DataFrame) -> dict[str, Any]:
    """How many predictions took P(bad) from logprobs, a verbalised number, or the label."""
    counts = frame.loc[frame["has_prediction"], "p_bad_source"].fillna("unknown").value_counts()
    return {str(k): int(v) for k, v in counts.items()}
