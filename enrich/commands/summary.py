"""The table printed at the end of a run."""

from pathlib import Path

from rich.console import Console
from rich.table import Table

from enrich.runner import RunSummary


def print_summary(summary: RunSummary, console: Console, job_path: Path | None = None) -> None:
    """Rows ok / failed / cached, tokens, wall time and rows/s, then what to do next."""
    c = summary.counters
    table = Table(title=f"{summary.job_name} · {summary.run_id} · {summary.status}",
                  show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    rows = [("rows", summary.rows_total), ("ok", summary.ok), ("cached", summary.cached),
            ("failed", summary.failed), ("pending", summary.pending),
            ("tokens in", c.tokens_in), ("tokens out", c.tokens_out),
            ("requests sent", c.requests_sent)]
    for name, value in rows:
        table.add_row(name, f"{value:,}")
    table.add_row("wall time", f"{c.elapsed():.1f} s")
    rate = c.rows_per_s()
    table.add_row("rows/s", f"{rate:,.1f}" if rate >= 10 else f"{rate:.3g}")
    console.print(table)
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
