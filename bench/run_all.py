"""``make bench``: every comparison of issue 11 in one run, one table, ``bench/RESULTS.md``.

Usage::

    .venv/bin/python -m bench.run_all                 # everything (installs the peers once)
    .venv/bin/python -m bench.run_all --smoke --rows 200 --out /tmp/b   # harness check (CI)

The test server runs once for the whole run; every client is its own process. Results go to
``OUT/results.json`` and, unless ``--smoke``, to ``bench/RESULTS.md``.
"""

import argparse
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.enrich_side import EnrichProject
from bench.envs import PEERS, ensure, package_version
from bench.procs import REPO, TestServer
from bench.report import machine
from bench.results_md import console_report, results_markdown
from bench.throughput import loadavg, main_clients, throughput

MAIN_PACKAGES = ("aiohttp", "duckdb", "pydantic", "orjson", "jinja2", "rich", "typer",
                 "llama-cpp-python")


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                   default=[64, 256])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--small-rows", type=int, default=10_000)
    p.add_argument("--big-rows", type=int, default=100_000)
    p.add_argument("--scale-concurrency", type=int, default=64)
    p.add_argument("--llama-rounds", type=int, default=5)
    p.add_argument("--llama-prompts", type=int, default=3)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    p.add_argument("--smoke", action="store_true",
                   help="only bare aiohttp and enrich (targets 1 and 3), one round, no file "
                        "in bench/")
    p.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                   help="only render the table and RESULTS.md from a results.json")
    for section in ("peers", "scale", "llamacpp", "store"):
        p.add_argument(f"--no-{section}", action="store_true", help=f"skip the {section} part")
    args = p.parse_args(argv)
    args.out, args.results = args.out.resolve(), args.results.resolve()
    if args.smoke:
        args.rounds, args.no_peers, args.no_scale = 1, True, True
        args.no_llamacpp, args.no_store = True, True
    return args


def _peer_pythons(args: argparse.Namespace) -> dict[str, Path]:
    if args.no_peers:
        return {}
    return {name: ensure(env, _log) for name, env in PEERS.items()}


def _versions(pythons: dict[str, Path]) -> dict[str, str]:
    found = {"enrich": version("enrich")}
    for package in MAIN_PACKAGES:
        try:
            found[package] = version(package)
        except Exception:  # noqa: BLE001 - not installed: say so
            found[package] = "not installed"
    for name, package in (("openai", "openai"), ("curator", "bespokelabs-curator"),
                          ("curator", "litellm"), ("distilabel", "distilabel"),
                          ("distilabel", "openai")):
        if name in pythons:
            found[f"{package} (bench/envs/{name})"] = package_version(pythons[name], package)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    pythons = _peer_pythons(args)
    results: dict[str, Any] = {
        "config": {"rows": args.rows, "concurrency": args.concurrency, "rounds": args.rounds,
                   "latency_ms": args.latency_ms, "command": " ".join(
                       ["python -m bench.run_all", *map(shlex.quote, sys.argv[1:])])},
        "machine": machine(), "versions": _versions(pythons),
        "started": datetime.now(UTC).isoformat(timespec="seconds"), "load_start": loadavg()}
    project = EnrichProject.create(args.out / "project")
    with TestServer(args.latency_ms) as server:
        _log(f"test server at {server.url} ({args.latency_ms:g} ms latency)")
        clients = main_clients(pythons)
        results["throughput"] = throughput(
            clients, project, server, rows=args.rows, concurrencies=args.concurrency,
            rounds=args.rounds, workdir=args.out / "work", log=_log)
        if not args.no_scale:
            from bench.scale import scale

            results["scale"] = scale(project, server, small=args.small_rows,
                                     big=args.big_rows, concurrency=args.scale_concurrency,
                                     log=_log)
        if not args.no_store:
            from bench.store_bench import store_bench

            _log("store: batched writes and transactions")
            results["store"] = store_bench(project, server, args.rows, args.concurrency[0])
    if not args.no_llamacpp:
        from bench.llamacpp_bench import llamacpp

        _log("llama.cpp: enrich's embedded backend vs llama-cpp-python")
        results["llamacpp"] = llamacpp(args.llama_rounds, args.llama_prompts, _log)
    results["load_end"] = loadavg()
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def preamble(results: dict[str, Any]) -> str:
    m, cfg = results["machine"], results["config"]
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    return "\n".join([
        "# Benchmark results", "",
        f"Produced by `make bench` (`{cfg['command']}`) from {results['started']} to "
        f"{results['finished']} (UTC). Regenerate with `make bench`.", "",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, {m['os']}, "
        f"Python {m['python']}.",
        f"- **Load**: load average (1/5/15 min) {results['load_start']} at the start, "
        f"{results['load_end']} at the end; every sample below records its own. "
        + LOAD_NOTE,
        f"- **Packages**: {versions}.",
        f"- **Set-up**: the in-repository test server (`bench/test_server.py`, the handlers of "
        f"`enrich.testing.fake_server`) at {cfg['latency_ms']:g} ms latency, one process for "
        f"the whole run; {cfg['rows']:,} structured requests per client (one short user "
        f"message, a JSON Schema with a bounded array of strings), concurrency "
        f"{' and '.join(map(str, cfg['concurrency']))}, {cfg['rounds']} rounds, interleaved; "
        "the best round of each client counts. Every client's rows are counted and validated "
        "with the same checker (`bench/workload.py`). `rows/s` is valid rows over the "
        "client's own time for the job (`run s`; for `enrich run` the run's wall time as "
        "stored in its `runs` table, from opening the run to the last commit); `process s` "
        "is the whole process, start-up included.",
    ])


LOAD_NOTE = os.environ.get(
    "BENCH_LOAD_NOTE",
    "A load average near or above the core count means other work shared the CPU: absolute "
    "numbers are then low and noisy; ratios within a round are what to read.")


def keep_at_scale_section(target: Path, markdown: str) -> str:
    """``markdown`` with the at-scale section that ``make bench-scale`` wrote into ``target``."""
    from bench.at_scale import BEGIN, END, replace_section

    old = target.read_text(encoding="utf-8") if target.is_file() else ""
    if BEGIN not in old or END not in old:
        return markdown
    return replace_section(markdown, BEGIN + old.split(BEGIN, 1)[1].split(END, 1)[0] + END)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
    else:
        results = run(args)
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(console_report(results))
    markdown = results_markdown(results, preamble(results))
    target = args.out / "RESULTS.md" if args.smoke else args.results
    markdown = keep_at_scale_section(target, markdown)
    target.write_text(markdown, encoding="utf-8")
    _log(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
