"""Live status of a run: a rich progress bar refreshed on a timer, never per row.

Counts only rows that are durably stored, so what the bar says is what a crash would keep.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass
class RunCounters:
    """What happened in this invocation of a run."""

    ok: int = 0
    cached: int = 0
    failed: int = 0
    already_done: int = 0
    requests_sent: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    started: float = field(default_factory=time.perf_counter)
    failures_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def stored(self) -> int:
        return self.ok + self.cached + self.failed

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def rows_per_s(self) -> float:
        return (self.ok + self.cached + self.failed) / max(self.elapsed(), 1e-9)


class RunProgress:
    """A progress bar with rows/s, tokens and failures (a no-op when disabled).

    Args:
        total: rows in the job.
        description: label shown left of the bar.
        console: where to draw; None disables drawing.
    """

    def __init__(self, total: int, description: str, console: Console | None,
                 log_every_s: float = 15.0):
        self.total = total
        self.description = description
        self._progress: Progress | None = None
        # Not a terminal (CI logs, nohup, pipes): a plain line every `log_every_s` instead.
        self._log_console = console if console is not None and not console.is_terminal else None
        self._log_every_s = log_every_s
        self._last_log = time.perf_counter()
        self.note: str | None = None
        if console is not None and self._log_console is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>7.1f} rows/s"),
                TextColumn("ok {task.fields[ok]} · cached {task.fields[cached]} · "
                           "[red]failed {task.fields[failed]}[/] · tok {task.fields[tok]}"),
                TimeElapsedColumn(), TextColumn("[yellow]{task.fields[note]}"),
                console=console, refresh_per_second=4, transient=False)
            self._task = self._progress.add_task(description, total=total, rate=0.0, ok=0,
                                                 cached=0, failed=0, tok="0/0", note="")

    def __enter__(self) -> "RunProgress":
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, counters: RunCounters) -> None:
        """Show the durable counts (called after each store write)."""
        if self._log_console is not None:
            self._log_line(counters)
        if self._progress is None:
            return
        self._progress.update(
            self._task, completed=counters.already_done + counters.stored,
            rate=counters.rows_per_s(), ok=counters.ok, cached=counters.cached,
            failed=counters.failed, tok=f"{counters.tokens_in}/{counters.tokens_out}",
            note=self.note or "")

    def set_note(self, note: str | None) -> None:
        """What the run is waiting for, shown after the counts (None: nothing)."""
        self.note = note

    async def show_notes(self, counters: RunCounters, note: Callable[[], str | None],
                         every_s: float = 0.5) -> None:
        """Poll ``note()`` (e.g. a backend's "waiting 42 s (Retry-After)") and show it while it
        is set; runs until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            text = note()
            if text != self.note:
                self.set_note(text)
                self.update(counters)

    def _log_line(self, counters: RunCounters) -> None:
        now = time.perf_counter()
        if now - self._last_log < self._log_every_s:
            return
        self._last_log = now
        done = counters.already_done + counters.stored
        assert self._log_console is not None
        self._log_console.print(
            f"{self.description}: {done:,}/{self.total:,} rows · {counters.rows_per_s():.1f} "
            f"rows/s · ok {counters.ok} · cached {counters.cached} · failed {counters.failed} · "
            f"tokens {counters.tokens_in:,}/{counters.tokens_out:,}"
            + (f" · {self.note}" if self.note else ""), highlight=False)


@dataclass
class RunSummary:
    """The outcome of one ``enrich run`` (counts are for the whole run, resumed parts too)."""

    run_id: str
    job_name: str
    status: str
    rows_total: int
    ok: int
    cached: int
    failed: int
    pending: int
    counters: RunCounters
    resumed: bool
    failures_by_kind: dict[str, int] = field(default_factory=dict)
