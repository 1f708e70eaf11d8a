"""Static evaluation reports (HTML or Markdown) with the dashboard's plots, for people who do
not run the dashboard.

Charts are rendered to SVG with vl-convert (no JavaScript, no network): inline in HTML, as
files beside a Markdown report (``REPORT_files/*.svg``). Without vl-convert the HTML embeds the
Vega-Lite specs for vega-embed, and the Markdown report lists the tables only.

Example:
    >>> write_report(Path("report.html"), [result])            # doctest: +SKIP
    >>> write_comparison_report(Path("ab.md"), comparison)     # doctest: +SKIP
"""

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from enrich.errors import ConfigError
from enrich.evaluate import charts
from enrich.evaluate.bootstrap import format_estimate
from enrich.evaluate.compare import Comparison
from enrich.evaluate.results import SuiteResult

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
          "padding:3px 8px;text-align:left;font-size:14px}.pass{color:#080}.fail{color:#b00}"
          ".charts{display:flex;flex-wrap:wrap;gap:12px}.note{color:#666}")


def result_charts(result: SuiteResult) -> list[tuple[str, charts.AnyChart]]:
    """The plots of one result (the same functions draw the dashboard)."""
    t = result.tables
    if result.kind == "labels":
        auc = result.metrics.get("roc_auc")
        return [("roc", charts.roc_chart(t.get("roc", pd.DataFrame()),
                                         auc.value if auc else None)),
                ("reliability", charts.reliability_chart(t.get("reliability", pd.DataFrame()))),
                ("confusion", charts.confusion_chart(t.get("confusion", pd.DataFrame()))),
                ("scores", charts.score_histogram(t.get("scores", pd.DataFrame()))),
                ("distribution", charts.distribution_chart(t.get("distribution",
                                                                 pd.DataFrame())))]
    if result.kind == "generation":
        return [("lengths", charts.length_histogram(t.get("lengths", pd.DataFrame())))]
    return [("metrics", charts.metrics_chart(charts.estimates_frame(
        {result.system: result.metrics})))]


class _Writer:
    """Collects sections; renders charts to SVG (inline for HTML, files for Markdown)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.suffix.lower() not in (".html", ".htm", ".md"):
            raise ConfigError(f"cannot write a report to {path}", "use a .html or .md file")
        self.markdown = self.path.suffix.lower() == ".md"
        self.parts: list[str] = []
        self.assets = self.path.with_name(self.path.stem + "_files")
        try:
            import vl_convert

            self.vlc: Any = vl_convert
        except ImportError:
            self.vlc = None

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"{'#' * level} {text}\n" if self.markdown
                          else f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str, css: str = "") -> None:
        self.parts.append(f"{text}\n" if self.markdown
                          else f'<p class="{css}">{html.escape(text)}</p>')

    def code(self, text: str) -> None:
        self.parts.append(f"```diff\n{text}```\n" if self.markdown
                          else f"<pre>{html.escape(text)}</pre>")

    def table(self, frame: pd.DataFrame) -> None:
        if self.markdown:
            head = "| " + " | ".join(map(str, frame.columns)) + " |"
            rule = "|" + "---|" * len(frame.columns)
            body = ["| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ")
                                      for v in row) + " |" for row in frame.itertuples(False)]
            self.parts.append("\n".join([head, rule, *body]) + "\n")
        else:
            self.parts.append(frame.to_html(index=False, escape=True, border=0))

    def plots(self, named: list[tuple[str, charts.AnyChart]], prefix: str) -> None:
        rendered = []
        for name, chart in named:
            spec = chart.to_dict()
            if self.vlc is None:
                rendered.append(self._embed(spec, f"{prefix}-{name}"))
                continue
            svg = self.vlc.vegalite_to_svg(spec)
            if self.markdown:
                self.assets.mkdir(parents=True, exist_ok=True)
                (self.assets / f"{prefix}-{name}.svg").write_text(svg, encoding="utf-8")
                rendered.append(f"![{name}]({self.assets.name}/{prefix}-{name}.svg)")
            else:
                rendered.append(f"<div>{svg}</div>")
        if self.markdown:
            self.parts.append("\n".join(rendered) + "\n")
        else:
            self.parts.append('<div class="charts">' + "".join(rendered) + "</div>")

    def _embed(self, spec: dict[str, Any], element: str) -> str:
        if self.markdown:
            return f"(chart `{element}` needs vl-convert-python to render)"
        return (f'<div id="{element}"></div><script>vegaEmbed("#{element}", '
                f"{json.dumps(spec)});</script>")

    def write(self, title: str) -> None:
        if self.markdown:
            self.path.write_text(f"# {title}\n\n" + "\n".join(self.parts), encoding="utf-8")
            return
        scripts = "" if self.vlc else "".join(
            f'<script src="https://cdn.jsdelivr.net/npm/{p}"></script>'
            for p in ("vega@5", "vega-lite@5", "vega-embed@6"))
        self.path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>"
                             f"{html.escape(title)}</title><style>{_STYLE}</style>{scripts}"
                             f"</head><body><h1>{html.escape(title)}</h1>"
                             + "\n".join(self.parts) + "</body></html>", encoding="utf-8")


def metrics_table(result: SuiteResult) -> pd.DataFrame:
    """Metric, value with CI, n and threshold status, as printed by ``enrich eval run``."""
    checks = {c.metric: c for c in result.checks}
    return pd.DataFrame([{
        "metric": name, "value [CI]": format_estimate(est), "n": est.n,
        "threshold": "" if name not in checks else
        f"{'pass' if checks[name].passed else 'FAIL'} ({checks[name].bound})"}
        for name, est in result.metrics.items()])


def _provenance(result: SuiteResult) -> str:
    p = result.provenance
    keys = ("model", "backend", "retriever", "run_id", "prompt_version", "golden",
            "golden_rows", "queries", "documents", "resamples")
    return " · ".join(f"{k}: {p[k]}" for k in keys if p.get(k) is not None)


def _result_section(writer: _Writer, result: SuiteResult, index: int) -> None:
    writer.heading(f"{result.suite} · {result.system}")
    writer.text(_provenance(result), "note")
    writer.table(metrics_table(result))
    for note in result.notes:
        writer.text(note, "note")
    writer.plots(result_charts(result), f"r{index}")
    if result.kind == "generation" and "samples" in result.tables:
        writer.heading("Sample outputs", 3)
        writer.table(result.tables["samples"].head(10))


def write_report(path: Path, results: list[SuiteResult]) -> Path:
    """Write a report for one or more results (e.g. every retriever of a retrieval suite)."""
    if not results:
        raise ConfigError("nothing to report", "run a suite first")
    writer = _Writer(path)
    if len(results) > 1:
        frame = charts.estimates_frame({r.system: r.metrics for r in results})
        writer.heading("All systems")
        writer.plots([("metrics", charts.metrics_chart(frame))], "all")
    for index, result in enumerate(results):
        _result_section(writer, result, index)
    license_text = results[0].provenance.get("license")
    if license_text:
        writer.text(f"Golden data: {license_text}", "note")
    writer.write(f"Evaluation: {results[0].suite}")
    return writer.path


def comparison_table(cmp: Comparison) -> pd.DataFrame:
    """A, B, B − A with its paired CI and the verdict, per metric."""
    return pd.DataFrame([{"metric": name, "A": format_estimate(cmp.a.metrics[name]),
                          "B": format_estimate(cmp.b.metrics[name]),
                          "B − A [CI]": format_estimate(diff), "verdict": cmp.verdict(name)}
                         for name, diff in cmp.differences.items()])


def write_comparison_report(path: Path, cmp: Comparison) -> Path:
    """Write an A/B report: side-by-side metrics, both versions' plots, changed rows."""
    writer = _Writer(path)
    writer.heading(f"A = {cmp.a.system} · B = {cmp.b.system}")
    writer.text(f"model: {cmp.b.provenance.get('model')} · runs A {cmp.a.provenance.get('run_id')}"
                f" · B {cmp.b.provenance.get('run_id')}", "note")
    writer.table(comparison_table(cmp))
    if cmp.prompt_diff:
        writer.heading("Prompt diff", 3)
        writer.code(cmp.prompt_diff)
    frame = charts.estimates_frame({f"A {cmp.a.system}": cmp.a.metrics,
                                    f"B {cmp.b.system}": cmp.b.metrics})
    writer.plots([("metrics", charts.metrics_chart(frame))], "ab")
    for tag, result in (("A", cmp.a), ("B", cmp.b)):
        writer.heading(f"{tag}: {result.system}", 3)
        writer.plots(result_charts(result), tag)
    writer.heading(f"Rows whose output changed ({len(cmp.changed)})", 3)
    writer.table(cmp.changed.head(200))
    writer.write(f"Prompt comparison: {cmp.suite}")
    return writer.path
