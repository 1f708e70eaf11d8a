"""The table printed at the end of a run."""

from pathlib import Path

from rich.console import Console
from rich.table import Table

from enrich.runner import RunSummary


def print_summary(summary: RunSummary, console: Console, job_path: Path | None = None) -> None:
    """Rows ok / failed / cached, tokens, wall time and rows/s, then what to do next."""
    c = summary.counters
    console.print(f"[bold]{summary.job_name}[/] · {summary.run_id} · {summary.status}")
    rate = c.rows_per_s()
    left = [("rows", f"{summary.rows_total:,}"), ("ok", f"{summary.ok:,}"),
            ("cached", f"{summary.cached:,}"), ("failed", f"{summary.failed:,}"),
            ("pending", f"{summary.pending:,}")]
    right = [("tokens in", f"{c.tokens_in:,}"), ("tokens out", f"{c.tokens_out:,}"),
             ("requests sent", f"{c.requests_sent:,}"), ("wall time", f"{c.elapsed():.1f} s"),
             ("rows/s", f"{rate:,.1f}" if rate >= 10 else f"{rate:.3g}")]
    grid = Table.grid(padding=(0, 2))
    for justify in ("left", "right", "left", "right"):
        grid.add_column(justify=justify)  # type: ignore[arg-type]
    for (name, value), (name2, value2) in zip(left, right, strict=True):
        grid.add_row(f" {name}", value, f"  {name2}", value2)
    console.print(grid)
    if summary.resumed and summary.counters.already_done:
        console.print(f"resumed: {summary.counters.already_done:,} rows were already stored")
    if summary.failures_by_kind:
        kinds = ", ".join(f"{k}: {n}" for k, n in summary.failures_by_kind.items())
        console.print(f"[red]failures[/] ({kinds}) — re-send them with "
                      f"`enrich retry {summary.run_id}`")
    if summary.status == "interrupted":
        job = job_path or "JOB.yaml"
        console.print(f"[yellow]interrupted[/]: {summary.pending:,} rows left; run "
                      f"`enrich run {job}` again to resume")
