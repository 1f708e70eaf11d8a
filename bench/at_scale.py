"""``make bench-scale``: the client at 100,000 and 1,000,000 rows (issue 20), one table.

Usage::

    .venv/bin/python -m bench.at_scale                       # 100k × c=64,256, then 1M rows
    .venv/bin/python -m bench.at_scale --rows 2000 --big-rows 5000 --out /tmp/s --no-write

One test server process for the whole run (``bench/test_server.py``, 20 ms latency). Every
measurement is a whole process, start-up included, and every row is re-validated from the
store with the workload's own checker:

- **100k side by side**: at each concurrency, a fresh ``enrich run`` over 100,000 rows from
  Parquet (progress bar drawn, as at a terminal) and the bare aiohttp loop
  (``bench/clients/bare_aiohttp.py``) over the same rows, alternating, ``--rounds`` times
  (default 3: on this machine the bare loop alone moves by ±20 % from run to run); the ratio of
  rows/s over whole-process time (and over each client's own run time) of the median pair, with
  every pair's ratio beside it, and the highest peak RSS of the enrich runs;
- **first request**: ``enrich run`` on a fresh store, from the process's start to the moment
  the server has seen its first request (polled every 2 ms), ``--first-repeats`` times;
- **1M rows**: one fresh run over 1,000,000 rows from Parquet: rows/s, peak RSS, store size,
  against the 100k run at the same concurrency.

Results go to ``OUT/results.json`` and, unless ``--no-write``, replace the section between the
``at-scale`` markers of ``bench/RESULTS.md`` (``make bench`` keeps that section).
"""

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.enrich_side import EnrichProject, stored_run
from bench.procs import REPO, TestServer
from bench.report import machine, table
from bench.scale import wait_for_requests
from bench.throughput import loadavg, main_clients, run_peer

BEGIN, END = "<!-- at-scale:begin -->", "<!-- at-scale:end -->"


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.at_scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--big-rows", type=int, default=1_000_000)
    p.add_argument("--big-concurrency", type=int, default=256)
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                   default=[64, 256])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--first-repeats", type=int, default=5)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out-scale")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    p.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    p.add_argument("--no-big", action="store_true", help="skip the 1M-row run")
    args = p.parse_args(argv)
    args.out = args.out.resolve()
    return args


def enrich_run(project: EnrichProject, server: TestServer, rows: int, concurrency: int,
               name: str) -> dict[str, Any]:
    """A fresh ``enrich run`` over ``rows`` rows, progress bar on, whole process measured."""
    db = project.root / f"{name}.duckdb"
    db.unlink(missing_ok=True)
    job = project.job(name, rows, server.url, concurrency)
    server.reset()
    load = loadavg()
    run = project.run(job, db)
    stored = stored_run(db, name)
    size = db.stat().st_size
    db.unlink(missing_ok=True)
    return {"client": "enrich run", "rows": rows, "concurrency": concurrency,
            "valid": stored.valid, "returned": stored.returned, "run_s": stored.wall_s,
            "wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_rss_mb": run.peak_rss_mb,
            "server_requests": server.requests_total(), "db_mb": size / 2**20,
            "loadavg": load}


def bare_run(server: TestServer, rows: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """The bare aiohttp loop over the same rows (``bench.clients.bare_aiohttp``)."""
    client = main_clients({})[0]
    sample = run_peer(client, server, rows, concurrency, 1, workdir)
    return {"client": "bare aiohttp", "rows": rows, "concurrency": concurrency,
            "valid": sample["valid"], "returned": sample["returned"],
            "run_s": sample["run_s"], "wall_s": sample["wall_s"], "cpu_s": sample["cpu_s"],
            "peak_rss_mb": sample["peak_rss_mb"], "server_requests": sample["server_requests"],
            "loadavg": sample["loadavg"], "error": sample.get("error")}


def first_request(project: EnrichProject, server: TestServer, repeats: int) -> dict[str, Any]:
    """Seconds from ``enrich run``'s process start to the server's first request, fresh store."""
    job = project.job("first-request", 2000, server.url, 64)
    seconds: list[float] = []
    for i in range(repeats):
        db = project.root / f"first-{i}.duckdb"
        db.unlink(missing_ok=True)
        server.reset()
        proc = project.start(job, db, quiet=True)
        try:
            seen = wait_for_requests(server, 1, 0.002, proc.started + 60)
        except TimeoutError:
            proc.kill()
            raise
        seconds.append(seen - proc.started)
        result = proc.wait()
        if result.returncode != 0:
            raise RuntimeError(f"enrich run failed: {result.stderr[-1000:]}")
        db.unlink(missing_ok=True)
    return {"seconds": seconds, "median_s": statistics.median(seconds), "min_s": min(seconds),
            "loadavg": loadavg()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.at_scale", *map(shlex.quote, sys.argv[1:])]),
        "machine": machine(), "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_start": loadavg(), "rows": args.rows, "big_rows": args.big_rows, "pairs": []}
    project = EnrichProject.create(args.out / "project")
    workdir = args.out / "work"
    workdir.mkdir(exist_ok=True)
    with TestServer(args.latency_ms) as server:
        _log(f"test server at {server.url}; warm-up")
        project.source(args.rows)
        enrich_run(project, server, min(args.rows, 5000), 64, "warm-up")
        bare_run(server, min(args.rows, 5000), 64, workdir)
        for round_ in range(1, args.rounds + 1):
            for concurrency in args.concurrency:
                _log(f"round {round_}, c={concurrency}: enrich, then bare aiohttp, "
                     f"{args.rows:,} rows")
                ours = enrich_run(project, server, args.rows, concurrency,
                                  f"scale-{args.rows}-c{concurrency}")
                bare = bare_run(server, args.rows, concurrency, workdir)
                results["pairs"].append({"round": round_, "concurrency": concurrency,
                                         "enrich": ours, "bare": bare})
                _log(f"  enrich {_rate(ours):,.0f} rows/s whole process "
                     f"({ours['wall_s']:.1f} s, {ours['peak_rss_mb']:.0f} MB); bare "
                     f"{_rate(bare):,.0f} rows/s ({bare['wall_s']:.1f} s)")
        _log(f"first request on a fresh store, {args.first_repeats} times")
        results["first_request"] = first_request(project, server, args.first_repeats)
        if not args.no_big:
            _log(f"{args.big_rows:,} rows from Parquet, c={args.big_concurrency}")
            results["big"] = enrich_run(project, server, args.big_rows, args.big_concurrency,
                                        f"scale-{args.big_rows}")
            _log(f"  {_rate(results['big']):,.0f} rows/s, "
                 f"{results['big']['peak_rss_mb']:.0f} MB")
    results["load_end"] = loadavg()
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def _rate(sample: dict[str, Any], key: str = "wall_s") -> float:
    return sample["valid"] / sample[key] if sample.get(key) else 0.0


def _ratio(pair: dict[str, Any]) -> float:
    return _rate(pair["enrich"]) / max(_rate(pair["bare"]), 1e-9)


def _median_pair(results: dict[str, Any], concurrency: int
                 ) -> tuple[dict[str, Any] | None, list[float]]:
    """The pair with the median enrich/bare ratio (the lower middle one of an even count)
    and every pair's ratio, in round order: one lucky pair decides nothing."""
    pairs = [p for p in results["pairs"] if p["concurrency"] == concurrency]
    ranked = sorted(pairs, key=_ratio)
    return (ranked[(len(ranked) - 1) // 2] if ranked else None), [_ratio(p) for p in pairs]


def markdown(results: dict[str, Any]) -> str:
    """The at-scale section of bench/RESULTS.md."""
    rows, big_rows = results["rows"], results["big_rows"]
    m = results["machine"]
    lines = [BEGIN, f"## The client at scale ({rows:,} and {big_rows:,} rows)", "",
             f"Produced by `make bench-scale` (`{results['command']}`) from "
             f"{results['started']} to {results['finished']} (UTC) on {m['cpu']}, "
             f"{m['cores']} cores; load {results['load_start']} at the start, "
             f"{results['load_end']} at the end. Whole processes, start-up included; rows "
             "re-validated from the store. The test server (one process, 20 ms latency) "
             "shares the 2 cores with the client.", ""]
    targets: list[list[str]] = []
    samples: list[list[str]] = []
    for concurrency in sorted({p["concurrency"] for p in results["pairs"]}):
        pair, ratios = _median_pair(results, concurrency)
        if pair is None:
            continue
        ours, bare = pair["enrich"], pair["bare"]
        ratio = _ratio(pair)
        run_ratio = _rate(ours, "run_s") / _rate(bare, "run_s") if _rate(bare, "run_s") else 0
        each = (f"; pairs in order: {', '.join(f'{r:.2f}×' for r in ratios)}"
                if len(ratios) > 1 else "")
        targets.append([f"enrich vs bare aiohttp, {rows:,} rows, c={concurrency}",
                        f"{ratio:.2f}× whole process, median pair ({_rate(ours):,.0f} vs "
                        f"{_rate(bare):,.0f} rows/s; {run_ratio:.2f}× run phase){each}",
                        "≥ 0.8×", _yes(ratio >= 0.8)])
        peak = max(p["enrich"]["peak_rss_mb"] for p in results["pairs"]
                   if p["concurrency"] == concurrency)
        targets.append([f"peak RSS, {rows:,} rows, c={concurrency}",
                        f"{peak:.0f} MB, highest of its runs (bare loop "
                        f"{bare['peak_rss_mb']:.0f} MB)", "≤ 200 MB", _yes(peak <= 200)])
    for pair in results["pairs"]:
        for s in (pair["enrich"], pair["bare"]):
            samples.append(_sample_row(s))
    first = results.get("first_request")
    if first:
        targets.append(["command start → first request, fresh store",
                        f"median {first['median_s']:.2f} s, min {first['min_s']:.2f} s "
                        f"({len(first['seconds'])} runs)", "≤ 0.3 s",
                        _yes(first["median_s"] <= 0.3)])
    big = results.get("big")
    if big:
        same = [p["enrich"] for p in results["pairs"]
                if p["concurrency"] == big["concurrency"]]
        ref = max((_rate(s, "run_s") for s in same), default=0.0)
        targets.append([f"peak RSS, {big_rows:,} rows", f"{big['peak_rss_mb']:.0f} MB, store "
                        f"{big['db_mb']:.0f} MB", "≤ 300 MB", _yes(big["peak_rss_mb"] <= 300)])
        if ref:
            change = _rate(big, "run_s") / ref
            targets.append([f"rows/s at {big_rows:,} vs {rows:,} (c={big['concurrency']})",
                            f"{change:.2f}× ({_rate(big, 'run_s'):,.0f} vs {ref:,.0f}, run "
                            "phase)", "within 10%", _yes(change >= 0.9)])
        samples.append(_sample_row(big))
    lines += [table(["target", "measured", "goal", "met"], targets), "",
              table(["client", "rows", "conc.", "valid", "rows/s (process)", "rows/s (run)",
                     "process s", "CPU s", "CPU µs/row", "peak RSS MB", "store MB", "load"],
                    samples), END]
    return "\n".join(lines)


def _yes(ok: bool) -> str:
    return "**yes**" if ok else "**no**"


def _sample_row(s: dict[str, Any]) -> list[str]:
    per_row = s["cpu_s"] / s["valid"] * 1e6 if s["valid"] else 0.0
    db = f"{s['db_mb']:.0f}" if "db_mb" in s else "—"
    return [s["client"], f"{s['rows']:,}", str(s["concurrency"]), f"{s['valid']:,}",
            f"{_rate(s):,.0f}", f"{_rate(s, 'run_s'):,.0f}", f"{s['wall_s']:.1f}",
            f"{s['cpu_s']:.1f}", f"{per_row:.0f}", f"{s['peak_rss_mb']:.0f}", db, s["loadavg"]]


def replace_section(document: str, section: str) -> str:
    """``document`` with its at-scale section replaced by ``section`` (appended if absent)."""
    if BEGIN in document and END in document:
        head, rest = document.split(BEGIN, 1)
        return head + section + rest.split(END, 1)[1]
    return document.rstrip("\n") + "\n\n" + section + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    results = run(args)
    (args.out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    section = markdown(results)
    print(section)
    if not args.no_write:
        old = args.results.read_text(encoding="utf-8") if args.results.is_file() else ""
        args.results.write_text(replace_section(old, section), encoding="utf-8")
        _log(f"wrote the at-scale section of {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
