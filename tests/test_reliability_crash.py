"""Crash and resume: a real ``enrich run`` killed (SIGKILL), interrupted (Ctrl-C) or stopped
(SIGTERM) at random moments and resumed each time (see ``reliability_crash.py``).

CI runs 300 rows × 3 SIGKILLs, × 2 Ctrl-C and × 2 SIGTERM; ``bench/crash_soak.py`` runs 2,000
rows × 20 kills (results in docs/reliability.md).
"""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_crash import assert_exactly_once, crash_cycles
from reliability_helpers import (
    assert_store_sound,
    job_yaml,
    make_project,
    run_cli_process,
    start_cli,
    write_job,
)

from enrich.testing.fake_server import FakeServer, FakeServerConfig

ROWS = 300
CONCURRENCY = 8
SERVER = FakeServerConfig(latency_ms=20, latency_jitter_ms=15, seed=3)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(SERVER) as running:
        yield running


def _project(tmp_path: Path, server: FakeServer, rows: int = ROWS) -> tuple[Path, Path]:
    project = make_project(tmp_path / "project", rows=rows)
    job = write_job(project, job_yaml(server.url, concurrency=CONCURRENCY))
    return project, job


def test_sigkill_at_random_moments_loses_nothing_and_pays_only_for_what_was_in_flight(
        tmp_path: Path, server: FakeServer) -> None:
    project, job = _project(tmp_path, server)
    report = crash_cycles(project, job, server, rows=ROWS, kills=3, sig=signal.SIGKILL, seed=11)
    print(report.summary())
    assert report.final_code == 0, report.final_stderr
    assert len(report.delivered) == 3
    assert all(k.exit_code == -signal.SIGKILL for k in report.delivered)
    assert_exactly_once(project / "e.duckdb", {str(i) for i in range(ROWS)})
    assert assert_store_sound(project / "e.duckdb", project)["problems"] == {}
    assert len(report.sends) == ROWS  # one request key per row, every one sent
    assert report.unexplained_resends() == {}
    assert report.resent_keys <= report.in_flight_total
    for kill in report.delivered:  # open requests + about one flush interval of answers
        assert kill.open_at_server <= CONCURRENCY, kill
        assert len(kill.in_flight) <= CONCURRENCY + 512, kill


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly_with_nothing_in_flight_lost(
        tmp_path: Path, server: FakeServer, sig: int) -> None:
    project, job = _project(tmp_path, server)
    kills = 2
    report = crash_cycles(project, job, server, rows=ROWS, kills=kills, sig=sig, seed=5)
    print(report.summary())
    assert report.final_code == 0, report.final_stderr
    assert len(report.delivered) == kills
    for kill in report.delivered:
        output = kill.stdout + kill.stderr
        assert "Traceback" not in output
        assert kill.exit_code in (130, 0), output  # 0: the signal came as the run finished
        if kill.exit_code == 130:
            assert "again to resume" in output, output
        assert kill.in_flight == set(), kill  # every request sent was stored before exiting
    assert_exactly_once(project / "e.duckdb", {str(i) for i in range(ROWS)})
    assert report.resent_keys == 0, report.summary()


def test_second_ctrl_c_stops_at_once_and_the_resume_still_completes(
        tmp_path: Path) -> None:
    rows = CONCURRENCY
    with FakeServer(FakeServerConfig(latency_ms=3000, seed=1)) as server:
        project, job = _project(tmp_path, server, rows)
        process = start_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
        while server.stats()["requests_total"] < CONCURRENCY:
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGINT)
        time.sleep(0.05)
        os.kill(process.pid, signal.SIGINT)
        started = time.monotonic()
        out, err = process.communicate(timeout=60)
        assert time.monotonic() - started < 2.5  # it did not wait for the 3 s answers
        assert process.returncode == 130 and "Traceback" not in out + err, out + err
        assert_store_sound(project / "e.duckdb", project)
        final = run_cli_process(["run", str(job), "--db", "e.duckdb", "-q"], project)
        assert final.code == 0, final.stderr
    assert_exactly_once(project / "e.duckdb", {str(i) for i in range(rows)})


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_during_start_up_is_clean_too(tmp_path: Path, server: FakeServer,
                                              sig: int) -> None:
    """Ctrl-C or SIGTERM while the store is opened and the plan built (before the run's own
    handler is installed): exit 130, one line saying how to resume, nothing half-written."""
    project, job = _project(tmp_path, server)
    process = start_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
    while not (project / "e.duckdb").exists() and process.poll() is None:
        time.sleep(0.002)
    os.kill(process.pid, sig)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in out + err, out + err
    assert process.returncode == 130, out + err
    assert "again to resume" in out + err, out + err
    assert_store_sound(project / "e.duckdb", project)
