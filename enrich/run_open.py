"""Which run an ``enrich run`` writes to: a new one, the unfinished one it resumes, the one
``enrich retry`` re-sends, or a copy of an unchanged finished one (a replay).

Example:
    >>> run_id, resumed = open_run(plan, store, rows_total=5000)   # doctest: +SKIP
"""

import uuid
from datetime import UTC, datetime

import orjson

from enrich.plan import RunPlan
from enrich.store import Store


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
    file, a task that renders from the row alone, and no unfinished run to resume.
    """
    if plan.source.version() is None or not plan.task.renders_from_row_alone():
        return None
    if store.resumable_run(plan.job.name, plan.fingerprint):
        return None
    return store.replayable_run(plan.job.name, plan.fingerprint, plan.run_config()["config"])
