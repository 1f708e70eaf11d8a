"""Target 9: the DuckDB store under the runner's batched writes.

- writes: realistic result rows (the workload's messages, a server response, a validated
  output) written with ``Store.write`` in batches of the runner's ``flush_rows`` (512): rows/s
  and CPU per row, into a fresh store (every key new) and again as a second run (every key
  already stored: the writer's uniqueness check finds each and stores only the outputs);
- transactions: a real run (the ``Runner`` in this process, against the test server) with
  ``Store.write`` counted: how many transactions, how many rows each;
- bytes on disk per 1,000 rows are taken from the scale runs' store files.
"""

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from bench.enrich_side import EnrichProject
from bench.procs import TestServer
from bench.workload import make_rows, messages_for
from enrich.store import PendingWrites, Store, now_us

FLUSH_ROWS = 512


def result_batches(rows: int, run_id: str) -> list[PendingWrites]:
    response = orjson.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": '{"keywords":["oak lamp","brass lamp"]}'}}],
        "usage": {"prompt_tokens": 17, "completion_tokens": 39}}).decode()
    params = orjson.dumps({"temperature": 0.0, "max_tokens": 64}).decode()
    batches, pending = [], PendingWrites(run_id)
    for i, row in enumerate(make_rows(rows)):
        key, now = f"{i:032x}", now_us()
        pending.add_request((key, run_id, row["id"], "bench_keywords", "0123456789ab",
                             "test-model", "openai", params,
                             orjson.dumps(messages_for(row)).decode(), response,
                             '{"keywords":["oak lamp","brass lamp"]}',
                             '{"keywords":["oak lamp","brass lamp"]}', None, 17, 39,
                             20.0 + i % 7, 1, "stop", now))
        pending.add_output(row["id"], key, False, orjson.dumps(row).decode(), now)
        if pending.rows >= FLUSH_ROWS:
            batches.append(pending)
            pending = PendingWrites(run_id)
    if not pending.empty():
        batches.append(pending)
    return batches


def write_rate(folder: Path, rows: int, again: bool) -> dict[str, Any]:
    """Write ``rows`` results in batches of 512 (``again``: a second time, as another run);
    rows/s, CPU per row and bytes on disk of the last pass."""
    db = folder / f"store-{'again' if again else 'fresh'}.duckdb"
    db.unlink(missing_ok=True)
    with Store(db) as store:
        for run_id in ("run-first", "run-again")[:1 + again]:
            batches = result_batches(rows, run_id)
            store.create_run({"run_id": run_id, "job_name": "store-bench", "fingerprint": "x",
                              "prompt_name": "bench_keywords", "prompt_version": "0123456789ab",
                              "schema_name": "BenchKeywords", "backend": "openai",
                              "model": "test-model", "rows_total": rows})
            started, cpu = time.perf_counter(), time.process_time()
            for batch in batches:
                store.write(batch)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"rows": rows, "again": again, "transactions": len(batches),
            "rows_per_s": rows / wall, "cpu_us_per_row": 1e6 * cpu / rows,
            "bytes_per_1000_rows": db.stat().st_size * 1000 / rows / (1 + again)}


def counted_run(project: EnrichProject, server: TestServer, rows: int,
                concurrency: int) -> dict[str, Any]:
    """A real run in this process with every ``Store.write`` call counted."""
    from enrich.backends import create_backend
    from enrich.jobs import load_job
    from enrich.plan import RunPlan
    from enrich.runner import Runner

    name = f"counted-{rows}"
    db = project.root / f"{name}.duckdb"
    db.unlink(missing_ok=True)
    job = load_job(project.job(name, rows, server.url, concurrency))
    sizes: list[int] = []
    with Store(db) as store:
        original = store.write

        def counting_write(pending: PendingWrites) -> None:
            original(pending)
            sizes.append(len(pending.outputs["row_id"]) + len(pending.failures["row_id"]))

        store.write = counting_write  # type: ignore[method-assign]
        plan = RunPlan.build(job, store)
        backend = create_backend(job.backend, concurrency=concurrency,
                                 cache_dir=project.root / ".cache")
        summary = asyncio.run(Runner(plan, store, backend).run())
    return {"rows": rows, "stored": summary.ok + summary.cached + summary.failed,
            "transactions": len(sizes), "rows_per_transaction_max": max(sizes, default=0),
            "rows_per_transaction_mean": sum(sizes) / max(len(sizes), 1),
            "rows_per_transaction_min": min(sizes, default=0)}


def store_bench(project: EnrichProject, server: TestServer, rows: int,
                concurrency: int) -> dict[str, Any]:
    folder = project.root
    return {"writes": [write_rate(folder, 20_000, again=False),
                       write_rate(folder, 20_000, again=True)],
            "run": counted_run(project, server, rows, concurrency)}
