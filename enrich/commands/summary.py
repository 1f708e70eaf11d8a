"""The table printed at the end of a run."""

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from enrich.runner import RunSummary
from enrich.store import Store


@dataclass(frozen=True)
class TokenTotals:
    """A run's tokens as ``enrich status`` counts them, and what failed attempts cost.

    Attributes:
        stored_in: prompt tokens of the run's stored results (every invocation of the run).
        stored_out: completion tokens of the run's stored results.
        failed_in: prompt tokens this invocation spent on attempts whose answer was not
            stored (failed rows, answers re-asked after a validation error).
        failed_out: completion tokens of those attempts.
    """

    stored_in: int
    stored_out: int
    failed_in: int = 0
    failed_out: int = 0

    @classmethod
    def measure(cls, store: Store, summary: RunSummary, since_us: int) -> "TokenTotals":
        """Read the stored totals and derive this invocation's failed-attempt tokens.

        Args:
            store: the run's store, still open.
            summary: what the runner returned (its counters saw every attempt).
            since_us: when this invocation started (UTC microseconds since the epoch).

        Returns:
            The totals.
        """
        from enrich.store.queries import stored_tokens

        total_in, total_out = stored_tokens(store, summary.run_id)
        now_in, now_out = stored_tokens(store, summary.run_id, since_us)
        c = summary.counters
        return cls(total_in, total_out, max(0, c.tokens_in - now_in),
                   max(0, c.tokens_out - now_out))


def print_summary(summary: RunSummary, console: Console, job_path: Path | None = None,
                  tokens: TokenTotals | None = None, resume: str | None = None) -> None:
    """Rows ok / failed / cached, tokens, wall time and rows/s, then what to do next.

    Args:
        summary: the runner's result.
        console: where to print.
        job_path: the job file, for the resume hint.
        tokens: the run's stored token totals (the numbers ``enrich status`` shows) and the
            failed attempts' tokens; without it, every attempt of this invocation is counted.
        resume: what to do about the rows left, when the run is interrupted (default: run
            ``enrich run JOB`` again).
    """
    c = summary.counters
    console.print(f"[bold]{summary.job_name}[/] · {summary.run_id} · {summary.status}")
    rate = c.rows_per_s()
    tokens_in, tokens_out = (tokens.stored_in, tokens.stored_out) if tokens else (
        c.tokens_in, c.tokens_out)
    left = [("rows", f"{summary.rows_total:,}"), ("ok", f"{summary.ok:,}"),
            ("cached", f"{summary.cached:,}"), ("failed", f"{summary.failed:,}"),
            ("pending", f"{summary.pending:,}")]
    right = [("tokens in", f"{tokens_in:,}"), ("tokens out", f"{tokens_out:,}"),
             ("requests sent", f"{c.requests_sent:,}"), ("wall time", f"{c.elapsed():.1f} s"),
             ("rows/s", f"{rate:,.1f}" if rate >= 10 else f"{rate:.3g}")]
    grid = Table.grid(padding=(0, 2))
    for justify in ("left", "right", "left", "right"):
        grid.add_column(justify=justify)  # type: ignore[arg-type]
    for (name, value), (name2, value2) in zip(left, right, strict=True):
        grid.add_row(f" {name}", value, f"  {name2}", value2)
    console.print(grid)
    if tokens and (tokens.failed_in or tokens.failed_out):
        console.print(f"failed attempts: {tokens.failed_in:,} tokens in, {tokens.failed_out:,} "
                      "out (not in the totals above, which count stored results as "
                      "`enrich status` does)")
    if summary.resumed and summary.counters.already_done:
        console.print(f"resumed: {summary.counters.already_done:,} rows were already stored")
    if summary.failures_by_kind:
        from enrich.store.pending import RESEND_KINDS

        kinds = ", ".join(f"{k}: {n}" for k, n in summary.failures_by_kind.items())
        transient = sum(n for k, n in summary.failures_by_kind.items() if k in RESEND_KINDS)
        lasting = sum(summary.failures_by_kind.values()) - transient
        hints = ([f"{transient:,} transient: a plain rerun of the job re-sends them"]
                 if transient else [])
        if lasting:
            which = "the others" if transient else "them"
            hints.append(f"re-send {which} with `enrich retry {summary.run_id}`")
        console.print(f"[red]failures[/] ({kinds}) — " + "; ".join(hints))
    if summary.status == "interrupted":
        rows = f"{summary.pending:,} row{'' if summary.pending == 1 else 's'} left"
        resume = resume or f"run `enrich run {job_path or 'JOB.yaml'}` again to resume"
        console.print(f"[yellow]interrupted[/]: {rows}; {resume}")
