"""``enrich run JOB --ray``: one run of a job, answered by a Ray cluster, stored in DuckDB.

The driver owns the run and the store; workers only answer requests:

1. the run is opened (or resumed) exactly as ``enrich run`` opens it, and an unchanged
   finished run is replayed without Ray;
2. result files left by an attempt that crashed are loaded first, so their rows are not sent
   again;
3. :func:`prepare_attempt` stores cache hits and writes what is left as Parquet shards;
4. the executor (Ray Data) answers them; each worker writes its batches' result files;
5. one writer bulk-loads the result files into the store (:func:`load_results`), the task's
   ``finalize`` runs, and the run is marked finished, or interrupted with its rows pending.

Example:
    >>> summary = run_scaled(plan, store, RayExecutor(RayOptions()), ScaleOptions(
    ...     work_dir=Path("enrich.scale")), console)                      # doctest: +SKIP
"""

import asyncio
import contextlib
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from enrich.errors import EnrichError
from enrich.plan import RunPlan
from enrich.progress import RunCounters, RunProgress, RunSummary
from enrich.run_open import already_done, close_run, open_run, replay, replayable_run, summarize
from enrich.scale.bulk_load import load_results
from enrich.scale.executors import Executor
from enrich.scale.prepare import Attempt, prepare_attempt
from enrich.scale.spec import WorkerSpec
from enrich.store import Store
from enrich.store.queries import run_counts


class ScaleOptions(BaseModel):
    """Where a scale-out run keeps its files and how it splits the work.

    Attributes:
        work_dir: shards and result files (``WORK_DIR/RUN_ID/attempt-N/``); on a cluster, a
            folder every node sees at the same path.
        shards: Parquet files the requests are split into (default: one per 2,000 requests,
            at least 2).
        cache_dir: embedded models, for llama.cpp workers.
        n_threads: llama.cpp threads per worker.
    """

    model_config = ConfigDict(extra="forbid")

    work_dir: Path
    shards: int | None = Field(default=None, ge=1)
    cache_dir: Path = Path("~/.cache/enrich")
    n_threads: int = 2


def _attempts(run_dir: Path) -> list[Attempt]:
    found = [p for p in run_dir.glob("attempt-*") if p.is_dir()] if run_dir.is_dir() else []
    return [Attempt(p) for p in sorted(found, key=lambda p: int(p.name.split("-")[1]))]


def recover(store: Store, plan: RunPlan, run_id: str, run_dir: Path) -> int:
    """Load what earlier attempts of the run finished (a crash left it), then drop their
    files; returns the rows stored."""
    stored = 0
    for attempt in _attempts(run_dir):
        if attempt.prepared_marker.exists():
            loaded = load_results(store, plan, run_id, attempt)
            stored += loaded.outputs + loaded.failures
        shutil.rmtree(attempt.folder)
    return stored


def check_server(plan: RunPlan, options: ScaleOptions) -> None:
    """Reach the job's server once from the driver (HTTP backend only) before any worker
    starts: a server that is down, a rejected key or an unknown model is one line, not a Ray
    job failing on every node. (An embedded model is not loaded here.)

    Raises:
        BackendError: the server cannot be used as the job is written.
    """
    if plan.job.backend.kind != "openai":
        return
    from enrich.backends import create_backend

    async def start_and_close() -> None:
        backend = create_backend(plan.job.backend, concurrency=1, cache_dir=options.cache_dir)
        try:
            await backend.start()
        finally:
            await backend.close()

    asyncio.run(start_and_close())


def _answer(executor: Executor, shards: list[Path], spec: WorkerSpec, requests: int,
            description: str, counters: RunCounters, console: Console | None) -> None:
    """Run the executor, showing requests answered (counts of this invocation)."""
    answered = RunCounters()
    with RunProgress(requests, description, console) as progress:
        for done in executor.run(shards, spec, requests):
            answered.ok += int(done["ok"])
            answered.failed += int(done["failed"])
            counters.requests_sent += int(done["sends"])
            counters.tokens_in += int(done["tokens_in"])
            counters.tokens_out += int(done["tokens_out"])
            answered.tokens_in, answered.tokens_out = counters.tokens_in, counters.tokens_out
            progress.update(answered)


def run_scaled(plan: RunPlan, store: Store, executor: Executor, options: ScaleOptions,
               console: Console | None) -> RunSummary:
    """Run ``plan`` with ``executor`` answering its requests (see the module docstring).

    Args:
        plan: the resolved job.
        store: the writable store (only this process writes it).
        executor: who answers the requests (Ray Data, or this process).
        options: work folder and shards.
        console: where progress goes (None: silent).

    Returns:
        The run's summary (counts for the whole run, resumed parts too).
    """
    counters = RunCounters()
    previous = replayable_run(plan, store)
    if previous is not None:
        run_id = asyncio.run(replay(plan, store, *previous, counters, console))
        return _summary(store, plan, run_id, previous[1], counters, False, "finished")
    rows_total = plan.count_rows()
    run_id, resumed = open_run(plan, store, rows_total)
    try:
        plan.task.prepare(plan, store)
        _fill(plan, store, run_id, executor, options, rows_total, counters, console)
        if int(run_counts(store, run_id)["pending"]) == 0:
            plan.task.finalize(store, run_id, console, None)
        status, _ = close_run(store, run_id, counters.elapsed(), False)
    except BaseException:
        with contextlib.suppress(EnrichError):  # (the store may be what failed)
            if resumed or not store.discard_run(run_id):  # a new run that stored nothing goes
                store.mark_run(run_id, "interrupted", wall_s=counters.elapsed())
        raise
    return _summary(store, plan, run_id, rows_total, counters, resumed, status)


def _fill(plan: RunPlan, store: Store, run_id: str, executor: Executor, options: ScaleOptions,
          rows_total: int, counters: RunCounters, console: Console | None) -> None:
    """Recover a crashed attempt, prepare a new one, have it answered, load the results."""
    run_dir = options.work_dir / run_id
    recover(store, plan, run_id, run_dir)
    counters.already_done = already_done(store, run_id, False)
    attempt = Attempt(run_dir / "attempt-1")
    shards = options.shards or max(2, -(-rows_total // 2000))
    prepared = asyncio.run(prepare_attempt(plan, store, run_id, attempt, shards))
    if prepared.requests:
        check_server(plan, options)
        spec = WorkerSpec.from_plan(plan, run_id, attempt.results, options.cache_dir,
                                    options.n_threads)
        try:
            _answer(executor, attempt.todo_files(), spec, prepared.requests,
                    f"{plan.job.name} ({run_id}) requests", counters, console)
        finally:  # what the workers finished is stored, whatever stopped them
            load_results(store, plan, run_id, attempt)
    shutil.rmtree(attempt.folder)
    for folder in (run_dir, options.work_dir):  # (left only if something else is in them)
        with contextlib.suppress(OSError):
            folder.rmdir()


def _summary(store: Store, plan: RunPlan, run_id: str, rows_total: int, counters: RunCounters,
             resumed: bool, status: str) -> RunSummary:
    summary = summarize(store, plan, run_id, rows_total, counters, resumed, status)
    counters.ok, counters.cached, counters.failed = (
        int(summary.ok), int(summary.cached), int(summary.failed))
    return summary
