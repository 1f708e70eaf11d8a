"""Targets 5–7: memory and rate from 10,000 to 100,000 rows streamed from Parquet, and resume.

- scale: a fresh `enrich run` over 10,000 and over 100,000 rows (progress bar on): rows/s of
  the run and peak RSS of the process;
- resume: the 100,000-row job is killed with SIGKILL once the server has seen half of its
  requests, then started again: the time from the new process's start to the first request
  the server receives, the requests re-sent, and whether every row ends up stored exactly once;
- rerun: the finished 100,000-row job once more, as a whole process, with zero requests.
"""

import time
from collections.abc import Callable
from typing import Any

import duckdb

from bench.enrich_side import EnrichProject, stored_run
from bench.procs import TestServer
from bench.throughput import loadavg

Log = Callable[[str], None]


def scale_run(project: EnrichProject, server: TestServer, rows: int,
              concurrency: int) -> dict[str, Any]:
    """One fresh run over ``rows`` rows."""
    name = f"scale-{rows}"
    db = project.root / f"{name}.duckdb"
    db.unlink(missing_ok=True)
    job = project.job(name, rows, server.url, concurrency)
    server.reset()
    load = loadavg()
    run = project.run(job, db)
    stored = stored_run(db, name)
    return {"rows": rows, "concurrency": concurrency, "valid": stored.valid,
            "returned": stored.returned, "run_s": stored.wall_s,
            "rows_per_s": stored.valid / stored.wall_s if stored.wall_s else 0.0,
            "wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_rss_mb": run.peak_rss_mb,
            "server_requests": server.requests_total(), "db_bytes": db.stat().st_size,
            "loadavg": load}


def wait_for_requests(server: TestServer, n: int, every: float, deadline: float) -> float:
    """Poll the server until it has seen ``n`` requests; returns when (perf_counter)."""
    while server.requests_total() < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the server did not see {n} requests in time")
        time.sleep(every)
    return time.perf_counter()


def resume(project: EnrichProject, server: TestServer, rows: int,
           concurrency: int) -> dict[str, Any]:
    """Kill the job half-way with SIGKILL, restart it, then rerun the finished job."""
    name = f"resume-{rows}"
    db = project.root / f"{name}.duckdb"
    db.unlink(missing_ok=True)
    job = project.job(name, rows, server.url, concurrency)
    server.reset()
    first = project.start(job, db, quiet=True)
    wait_for_requests(server, rows // 2, 0.2, time.perf_counter() + 1800)
    first.kill()
    first.wait()
    sent_before = server.requests_total()
    with duckdb.connect(str(db), read_only=True) as con:
        stored_at_kill = con.execute("SELECT count(*) FROM outputs").fetchone()[0]
    server.reset()
    load = loadavg()
    second = project.start(job, db, quiet=True)
    seen = wait_for_requests(server, 1, 0.005, time.perf_counter() + 300)
    to_first_request = seen - second.started
    finished = second.wait()
    resent = server.requests_total()
    stored = stored_run(db, name)
    with duckdb.connect(str(db), read_only=True) as con:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT row_id) FROM outputs "
                                      "WHERE run_id = ?", [stored.run_id]).fetchone()
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    server.reset()
    rerun_load = loadavg()
    rerun = project.run(job, db, quiet=True)
    return {"rows": rows, "sent_before_kill": sent_before, "stored_at_kill": stored_at_kill,
            "to_first_request_s": to_first_request, "resume_wall_s": finished.wall_s,
            "resume_requests": resent, "expected_resends": rows - stored_at_kill,
            "exactly_once": total == distinct == rows and runs == 1 and stored.valid == rows,
            "loadavg": load, "rerun_wall_s": rerun.wall_s, "rerun_cpu_s": rerun.cpu_s,
            "rerun_requests": server.requests_total(), "rerun_loadavg": rerun_load,
            "returncode": finished.returncode}


def scale(project: EnrichProject, server: TestServer, *, small: int, big: int,
          concurrency: int, log: Log) -> dict[str, Any]:
    """The scale runs, then the resume scenario on the big job."""
    results: dict[str, Any] = {"runs": []}
    for rows in (small, big):
        log(f"scale: {rows} rows from Parquet (c={concurrency})")
        run = scale_run(project, server, rows, concurrency)
        results["runs"].append(run)
        log(f"  {run['valid']} valid, {run['rows_per_s']:.0f} rows/s, peak RSS "
            f"{run['peak_rss_mb']:.0f} MB, load {run['loadavg']}")
    log(f"resume: {big} rows, SIGKILL half-way, restart, rerun")
    results["resume"] = resume(project, server, big, concurrency)
    r = results["resume"]
    log(f"  first new request after {r['to_first_request_s']:.2f} s, re-sent "
        f"{r['resume_requests']} (expected {r['expected_resends']}), exactly once: "
        f"{r['exactly_once']}; rerun {r['rerun_wall_s']:.2f} s, {r['rerun_requests']} requests")
    return results
