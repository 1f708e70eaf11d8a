"""A store that falls behind makes new requests wait (enrich/batch_writer.py): the results
waiting to be written stay under the writer's high-water mark plus what is in flight, however
slow the store, and every row is still stored once."""

import asyncio
import time
from pathlib import Path

from conftest import write_job
from fakes import FakeBackend

from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.runner import Runner
from enrich.store import PendingWrites, Store
from enrich.store.queries import consistency_problems

JOB = """name: many
source: {path: data/many.csv, id_column: movie_id}
prompt: item_metadata
backend: {kind: llamacpp, model: smollm2-135m}
"""


def test_a_slow_store_bounds_the_buffer_and_loses_nothing(project: Path) -> None:
    rows, flush_rows, concurrency = 3000, 16, 32
    lines = ["movie_id,title,year,genres,tags",
             *(f"{i},Film {i},1995,Drama,tag{i}" for i in range(rows))]
    (project / "data" / "many.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    job = load_job(write_job(project, JOB))
    written: list[int] = []
    with Store(project / "enrich.duckdb") as store:
        write = store.write

        def slow_write(pending: PendingWrites) -> None:
            time.sleep(0.05)  # a store far slower than the backend
            written.append(pending.rows)
            write(pending)

        store.write = slow_write  # type: ignore[method-assign]
        plan = RunPlan.build(job, store)
        runner = Runner(plan, store, FakeBackend(concurrency=concurrency),
                        flush_rows=flush_rows, flush_interval=0.01)
        summary = asyncio.run(runner.run())
        assert consistency_problems(store) == {}
        stored = store.sql("SELECT count(*), count(DISTINCT row_id) FROM outputs").fetchone()
    assert (summary.ok, summary.failed) == (rows, 0)
    assert stored == (rows, rows)
    high_water = 16 * flush_rows
    in_flight = runner._inflight.limit  # requests out at most (their results still land)
    assert max(written) <= high_water + in_flight
    assert len(written) >= rows // (high_water + in_flight)
