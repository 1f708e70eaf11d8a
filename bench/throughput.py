"""Targets 1–4: the same 5,000 structured requests through every client, interleaved.

Every client runs as its own process against the one test server, round by round, at each
concurrency, in the same order; the best round counts. Each sample records the rows the client
got back and how many of them validate, the requests the server saw, the client's own time for
the job (``run_s``: enrich's is the run's wall time stored in its ``runs`` table, from opening
the run to the last commit; a peer's is the call that does the work), the whole process's wall
and CPU time, and its peak RSS.
"""

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.enrich_side import ENRICH, EnrichProject, stored_run
from bench.procs import ProcessRun, TestServer, run_measured
from bench.workload import parse_report

Log = Callable[[str], None]


@dataclass(frozen=True)
class Client:
    """A client script and the interpreter of its own environment."""

    name: str
    python: Path
    module: str
    env: tuple[tuple[str, str], ...] = ()
    tree: bool = False  # it starts worker processes: sum the tree's memory too


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _sample(client: str, concurrency: int, round_: int, run: ProcessRun, server: TestServer,
            **fields: Any) -> dict[str, Any]:
    sample = {"client": client, "concurrency": concurrency, "round": round_,
              "server_requests": server.requests_total(), "wall_s": run.wall_s,
              "cpu_s": run.cpu_s, "peak_rss_mb": run.peak_rss_mb,
              "tree_rss_mb": run.peak_tree_rss_mb, **fields}
    run_s = sample.get("run_s") or 0.0
    sample["rows_per_s"] = sample["valid"] / run_s if run_s else 0.0
    sample["process_rows_per_s"] = sample["valid"] / run.wall_s if run.wall_s else 0.0
    return sample


def run_peer(client: Client, server: TestServer, rows: int, concurrency: int, round_: int,
             workdir: Path) -> dict[str, Any]:
    """One run of a client script; a crash is a sample with zero rows and its error."""
    server.reset()
    load = loadavg()
    cmd = [str(client.python), "-m", client.module, "--url", server.url, "--rows", str(rows),
           "--concurrency", str(concurrency), "--workdir", str(workdir)]
    run = run_measured(cmd, env=dict(client.env), sample_tree=client.tree)
    report = parse_report(run.stdout) or {}
    fields: dict[str, Any] = {
        "returned": report.get("returned", 0), "valid": report.get("valid", 0),
        "run_s": report.get("run_s", 0.0), "version": report.get("version", ""),
        "notes": report.get("notes", []), "loadavg": load}
    if run.returncode != 0 or not report:
        fields["error"] = (run.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return _sample(client.name, concurrency, round_, run, server, **fields)


def run_enrich(project: EnrichProject, server: TestServer, rows: int, concurrency: int,
               round_: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh `enrich run` (new store, progress bar on), then its cached rerun (target 3)."""
    name = f"bench-{rows}-c{concurrency}-r{round_}"
    db = project.root / f"{name}.duckdb"
    db.unlink(missing_ok=True)
    job = project.job(name, rows, server.url, concurrency)
    server.reset()
    load = loadavg()
    run = project.run(job, db)
    stored = stored_run(db, name)
    first = _sample("enrich run", concurrency, round_, run, server, returned=stored.returned,
                    valid=stored.valid, run_s=stored.wall_s, loadavg=load,
                    status=stored.status, db_bytes=db.stat().st_size)
    server.reset()
    load = loadavg()
    rerun = project.run(job, db)
    again = stored_run(db, name)
    second = _sample("enrich cached rerun", concurrency, round_, rerun, server,
                     returned=again.returned, valid=again.valid, run_s=again.wall_s,
                     cached=again.cached, loadavg=load, status=again.status)
    return first, second


def help_timings(repeats: int = 7) -> list[dict[str, Any]]:
    """Target 4: `enrich --help` as a whole process, several times."""
    samples = []
    for _ in range(repeats):
        load = loadavg()
        run = run_measured([*ENRICH, "--help"])
        samples.append({"wall_s": run.wall_s, "cpu_s": run.cpu_s, "loadavg": load,
                        "ok": run.returncode == 0 and "Usage" in run.stdout})
    return samples


def warm_up(clients: list[Client], project: EnrichProject, server: TestServer, rows: int,
            workdir: Path) -> None:
    """One untimed pass of the first client and of enrich: the server computes every answer
    (for both kinds of request key) and the OS caches every file, before anything counts."""
    run_peer(clients[0], server, rows, 64, 0, workdir)
    job = project.job("warm-up", rows, server.url, 64)
    project.run(job, project.root / "warm-up.duckdb", quiet=True)


def throughput(clients: list[Client], project: EnrichProject, server: TestServer, *,
               rows: int, concurrencies: list[int], rounds: int, workdir: Path,
               log: Log) -> dict[str, Any]:
    """Every client at every concurrency, ``rounds`` times, interleaved."""
    log(f"warm-up ({rows} rows)")
    warm_up(clients, project, server, rows, workdir)
    samples: list[dict[str, Any]] = []
    for round_ in range(1, rounds + 1):
        for concurrency in concurrencies:
            first, rerun = run_enrich(project, server, rows, concurrency, round_)
            samples += [first, rerun]
            log(_line(first) + "\n" + _line(rerun))
            for client in clients:
                sample = run_peer(client, server, rows, concurrency, round_, workdir)
                samples.append(sample)
                log(_line(sample))
    return {"samples": samples, "help": help_timings()}


def _line(s: dict[str, Any]) -> str:
    extra = f" ERROR {s['error']}" if s.get("error") else ""
    return (f"  r{s['round']} c={s['concurrency']:<3} {s['client']:<20} {s['valid']:>6}/"
            f"{s['returned']:<6} valid, {s['rows_per_s']:7.0f} rows/s (run {s['run_s']:.2f} s, "
            f"process {s['wall_s']:.2f} s, cpu {s['cpu_s']:.2f} s, {s['peak_rss_mb']:.0f} MB, "
            f"server saw {s['server_requests']}, load {s['loadavg']}){extra}")


def main_clients(python_of: dict[str, Path]) -> list[Client]:
    """The reference loops and the peers whose environments exist."""
    clients = [Client("bare aiohttp", Path(sys.executable), "bench.clients.bare_aiohttp")]
    if "openai" in python_of:
        clients.append(Client("bare openai SDK", python_of["openai"], "bench.clients.bare_openai"))
    if "curator" in python_of:
        clients.append(Client("curator", python_of["curator"], "bench.clients.curator_client",
                              (("CURATOR_DISABLE_TELEMETRY", "1"),)))
    if "distilabel" in python_of:
        clients.append(Client("distilabel", python_of["distilabel"],
                              "bench.clients.distilabel_client",
                              (("DISTILABEL_LOG_LEVEL", "WARNING"),), tree=True))
    return clients
