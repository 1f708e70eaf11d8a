"""The profile behind ``bench/PROFILE.md``: where a row's CPU goes in `enrich run`.

``python -m bench.profile_run [--rows 5000] [--concurrency 256]`` prints markdown with

1. each stage of the engine timed alone over the benchmark rows (CPU µs per row): rendering,
   cache keys, validation, buffering, the batched DuckDB write, the source and cache lookups;
2. a cProfile of a whole run (the ``Runner`` in this process, against the test server) at the
   given concurrency: the functions with the most own time, per row.

cProfile slows every Python call down by a similar factor, so read its column as shares.
"""

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.enrich_side import EnrichProject
from bench.procs import REPO, TestServer
from bench.report import table
from bench.store_bench import FLUSH_ROWS


def _cpu_us(fn: Callable[[], Any], rows: int) -> float:
    started = time.process_time()
    fn()
    return 1e6 * (time.process_time() - started) / rows


def stages(project: EnrichProject, url: str, rows: int) -> list[list[str]]:
    """CPU per row of each stage of the engine, run alone over the benchmark rows."""
    from bench.store_bench import result_batches
    from enrich.jobs import load_job
    from enrich.plan import RunPlan
    from enrich.store import Store

    job = load_job(project.job("profile-stages", rows, url, 64))
    db = project.root / "profile-stages.duckdb"
    db.unlink(missing_ok=True)
    with Store(db) as store:
        plan = RunPlan.build(job, store)
        batches = [b for b in plan.source.batches(1000)]
        data = [row for batch in batches for row in batch]
        messages = [plan.prompt.render(plan.task.variables(r)) for r in data]
        blobs = [orjson.dumps(m) for m in messages]
        keys = [plan.request_key(b) for b in blobs]
        content = '{"keywords":["oak lamp","brass lamp","table lamp"]}'
        pending = result_batches(rows, "run-profile")
        store.create_run({"run_id": "run-profile", "rows_total": rows, **plan.run_config()})
        ids = [r["id"] for r in data]
        results = [
            ("read the source (Parquet, batches of 1,000)",
             _cpu_us(lambda: [b for b in plan.source.batches(1000)], rows)),
            ("render the prompt (Jinja2 sandbox)", _cpu_us(
                lambda: [plan.prompt.render(plan.task.variables(r)) for r in data], rows)),
            ("cache key (orjson + blake2b)",
             _cpu_us(lambda: [plan.request_key(orjson.dumps(m)) for m in messages], rows)),
            ("validate the output (pydantic, from JSON text)",
             _cpu_us(lambda: [plan.schema.validate_json(content) for _ in data], rows)),
            (f"DuckDB write (one transaction per {FLUSH_ROWS} rows)",
             _cpu_us(lambda: [store.write(b) for b in pending], rows)),
            ("cache lookup (known keys, per batch)", _cpu_us(
                lambda: [store.known_keys(keys[i:i + 1000]) for i in range(0, rows, 1000)],
                rows)),
            ("resume lookup (done row ids, per batch)", _cpu_us(
                lambda: [store.done_row_ids("run-profile", ids[i:i + 1000])
                         for i in range(0, rows, 1000)], rows)),
        ]
    return [[name, f"{us:.1f}"] for name, us in results]


def cprofile(project: EnrichProject, server: TestServer, rows: int, concurrency: int,
             top: int = 20) -> tuple[list[list[str]], float]:
    """cProfile of one run in this process; (rows of the top functions, run seconds)."""
    from enrich.backends import create_backend
    from enrich.jobs import load_job
    from enrich.plan import RunPlan
    from enrich.runner import Runner
    from enrich.store import Store

    job = load_job(project.job("profile-run", rows, server.url, concurrency))
    db = project.root / "profile-run.duckdb"
    db.unlink(missing_ok=True)
    profiler = cProfile.Profile()
    with Store(db) as store:
        plan = RunPlan.build(job, store)
        backend = create_backend(job.backend, concurrency=concurrency,
                                 cache_dir=project.root / ".cache")
        runner = Runner(plan, store, backend)
        started = time.perf_counter()
        profiler.enable()
        asyncio.run(runner.run())
        profiler.disable()
        seconds = time.perf_counter() - started
    stats = pstats.Stats(profiler, stream=io.StringIO())
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore
    out = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in entries[:top]:
        where = filename.replace(str(REPO) + "/", "").split("site-packages/")[-1]
        out.append([f"`{name}` ({where}:{line})", f"{calls:,}", f"{1e6 * tottime / rows:.1f}",
                    f"{1e6 * cumtime / rows:.1f}"])
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_run")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "profile")
    args = parser.parse_args()
    project = EnrichProject.create(args.out)
    with TestServer() as server:
        stage_rows = stages(project, server.url, args.rows)
        top, seconds = cprofile(project, server, args.rows, args.concurrency)
    print("### Stages alone (CPU µs per row)\n")
    print(table(["stage", "µs/row"], stage_rows))
    print(f"\n### cProfile of a {args.rows:,}-row run at concurrency {args.concurrency} "
          f"({seconds:.1f} s under the profiler)\n")
    print(table(["function", "calls", "own µs/row", "cumulative µs/row"], top))


if __name__ == "__main__":
    main()
