"""Which run an ``enrich run`` writes to: a new one, the unfinished one it resumes (or the
finished one whose transient failures it re-sends), the one ``enrich retry`` re-sends, or a copy
of an unchanged finished one (a replay).

Example:
    >>> run_id, resumed = open_run(plan, store, rows_total=5000)   # doctest: +SKIP
"""

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import orjson
from rich.console import Console

from enrich.errors import EnrichError
from enrich.plan import RunPlan
from enrich.progress import RunCounters, RunSummary
from enrich.store import Store
from enrich.store.pending import RESEND_KINDS
from enrich.store.queries import run_counts


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"run-{stamp}-{uuid.uuid4().hex[:6]}"


def open_run(plan: RunPlan, store: Store, rows_total: int, retry_run: str | None = None
             ) -> tuple[str, bool]:
    """Create the run, or pick up the one to resume (or retry): (run id, resumed)."""
    store.record_prompt_version(plan.prompt.name, plan.prompt.version,
                                plan.schema.name, orjson.dumps(plan.prompt.content()).decode())
    if retry_run:
        store.mark_run(retry_run, "running")
        return retry_run, True
    existing = store.resumable_run(plan.job.name, plan.fingerprint)
    if existing:
        store.mark_run(existing, "running", rows_total=rows_total)
        return existing, True
    run_id = new_run_id()
    store.create_run({"run_id": run_id, "rows_total": rows_total, **plan.run_config()})
    return run_id, False


def replayable_run(plan: RunPlan, store: Store) -> tuple[str, int] | None:
    """(run id, rows) of the finished run an unchanged rerun can copy, or None.

    Only when nothing it would render can differ: the same fingerprint (source file size and
    time, prompt version, schema, model, parameters), the same job settings, a single source
    file, a task that renders from the row alone, and no run to resume (unfinished, or with
    transient failures to re-send).
    """
    if plan.source.version() is None or not plan.task.renders_from_row_alone():
        return None
    if store.resumable_run(plan.job.name, plan.fingerprint):
        return None
    return store.replayable_run(plan.job.name, plan.fingerprint, plan.run_config()["config"])


def already_done(store: Store, run_id: str, retrying: bool) -> int:
    """Rows of the run that this invocation will not send again (for the progress bar):
    stored outputs and failures, less the failures it re-sends (all of them for ``enrich
    retry``, the transient ones for a plain rerun)."""
    counts = run_counts(store, run_id)
    resent = counts["failed"] if retrying else sum(
        n for kind, n in counts["failures_by_kind"].items() if kind in RESEND_KINDS)
    return int(counts["ok"] + counts["cached"] + counts["failed"] - resent)


async def replay(plan: RunPlan, store: Store, previous: str, rows_total: int,
                 counters: RunCounters, console: Console | None) -> str:
    """A new run holding the rows of the finished run ``previous`` as cache hits, copied in
    SQL: no source read, no rendering, no backend (a 100,000-row rerun in well under a
    second). Returns the new run's id."""
    run_id, _ = open_run(plan, store, rows_total)
    try:
        outputs, failures = store.replay_run(previous, run_id)
    except BaseException:
        with contextlib.suppress(EnrichError):
            store.discard_run(run_id)
        raise
    counters.cached, counters.failed = outputs, failures
    plan.task.prepare(plan, store)
    await asyncio.to_thread(plan.task.finalize, store, run_id, console)
    store.mark_run(run_id, "finished", wall_s=counters.elapsed())
    return run_id


def close_run(store: Store, run_id: str, wall_s: float, stopped: bool) -> tuple[str, int]:
    """Mark the run ``finished`` (nothing pending, not stopped) or ``interrupted``; returns
    (status, rows pending)."""
    pending = int(run_counts(store, run_id)["pending"])
    status = "finished" if pending == 0 and not stopped else "interrupted"
    store.mark_run(run_id, status, wall_s=wall_s)
    return status, pending


def summarize(store: Store, plan: RunPlan, run_id: str, rows_total: int, counters: RunCounters,
              resumed: bool, status: str) -> RunSummary:
    """The run's summary from what the store holds (counts for the whole run, resumed parts
    too)."""
    counts = run_counts(store, run_id)
    return RunSummary(run_id, plan.job.name, status, rows_total, counts["ok"], counts["cached"],
                      counts["failed"], counts["pending"], counters, resumed,
                      counts["failures_by_kind"])
