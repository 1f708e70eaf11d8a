"""Crash soak: a 2,000-row job killed at 20 random moments, resumed after each kill.

The long variant of ``tests/test_reliability_crash.py`` (CI runs 300 rows × 3 kills). Each kill
is one real ``enrich run`` process, signalled at a random moment (a random time into start-up, or
once a random number of its requests reached the fake server); after each kill the store is
checked (``enrich status --check`` and no partial rows) and the request keys that were in flight
(sent, result not committed) are recorded. At the end every source row must be in ``outputs``
exactly once, and every request sent more than once must have been in flight at a kill.

Usage::

    .venv/bin/python bench/crash_soak.py                       # 2,000 rows, 20 × SIGKILL
    .venv/bin/python bench/crash_soak.py --signal SIGINT       # 20 × Ctrl-C
    .venv/bin/python bench/crash_soak.py --rows 5000 --kills 50 --concurrency 64
"""

import argparse
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from reliability_crash import CrashReport, assert_exactly_once, crash_cycles  # noqa: E402
from reliability_helpers import job_yaml, make_project, write_job  # noqa: E402

from enrich.testing.fake_server import FakeServer, FakeServerConfig  # noqa: E402


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--signal", default="SIGKILL", choices=["SIGKILL", "SIGINT", "SIGTERM"])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=2024)
    return parser.parse_args(argv)


def _table(report: CrashReport) -> str:
    lines = ["| # | signal | moment | exit | open at server | sent in cycle | in flight | "
             "rows stored after |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, kill in enumerate(report.kills, 1):
        lines.append(f"| {i} | {kill.signal} | {kill.moment} | {kill.exit_code} | "
                     f"{kill.open_at_server} | {kill.sent} | {len(kill.in_flight)} | "
                     f"{kill.committed_rows} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    sig = signal.Signals[args.signal]
    config = FakeServerConfig(latency_ms=args.latency_ms, latency_jitter_ms=args.latency_ms / 2,
                              seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp, FakeServer(config) as server:
        project = make_project(Path(tmp) / "project", rows=args.rows)
        job = write_job(project, job_yaml(server.url, concurrency=args.concurrency))
        report = crash_cycles(project, job, server, rows=args.rows, kills=args.kills, sig=sig,
                              seed=args.seed, max_tries=4 * args.kills)
        print(_table(report))
        print()
        print(report.summary())
        assert report.final_code == 0, report.final_stderr
        assert len(report.delivered) == args.kills, "the job finished before every kill"
        assert_exactly_once(project / "e.duckdb", {str(i) for i in range(args.rows)})
        unexplained = report.unexplained_resends()
        assert not unexplained, f"sent again without having been in flight: {unexplained}"
        if sig != signal.SIGKILL:
            assert report.in_flight_total == 0 and report.resent_keys == 0
    print("OK: every row stored exactly once; every re-sent request was in flight at a kill")
    return 0


if __name__ == "__main__":
    sys.exit(main())
