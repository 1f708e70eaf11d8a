"""A real `enrich run` process killed with SIGKILL mid-way, then resumed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import write_job

from enrich.testing.fake_server import FakeServer, FakeServerConfig

ROWS = 400
CONCURRENCY = 8


def _project_with_rows(project: Path, url: str) -> Path:
    lines = ["movie_id,title,year,genres,tags"]
    lines += [f"{i},Movie {i},{1950 + i % 70},Drama,tag {i}" for i in range(ROWS)]
    (project / "data" / "many.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return write_job(project, f"""name: many
source: {{path: data/many.csv, id_column: movie_id}}
prompt: item_metadata
backend: {{kind: openai, model: test-model, base_url: '{url}'}}
concurrency: {CONCURRENCY}
""")


def _start(job: Path, project: Path, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "enrich.cli", "run", str(job), "--db",
                             "e.duckdb", "-q"], cwd=project, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _wait_until_server_saw(server: FakeServer, process: subprocess.Popen[str], n: int) -> None:
    """Wait until ``n`` requests reached the server (the store itself is locked by the run)."""
    deadline = time.monotonic() + 60
    while server.stats()["requests_total"] < n:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the run ended or stalled early: {process.communicate()[1]}")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_resumes_with_every_row_exactly_once(project: Path, sig: int) -> None:
    with FakeServer(FakeServerConfig(latency_ms=40)) as server:
        job = _project_with_rows(project, server.url)
        first = _start(job, project)
        _wait_until_server_saw(server, first, ROWS // 4)
        os.kill(first.pid, sig)
        out, err = first.communicate(timeout=60)
        if sig == signal.SIGINT:
            assert first.returncode == 130, err
            assert "run `enrich run" in out and "again to resume" in out
        sent_before = server.stats()["requests_total"]
        second = _start(job, project)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        stats = server.stats()
    with duckdb.connect(str(project / "e.duckdb"), read_only=True) as con:
        runs = con.execute("SELECT run_id, status FROM runs").fetchall()
        assert len(runs) == 1 and runs[0][1] == "finished"  # resumed, not restarted
        total, distinct = con.execute(
            "SELECT count(*), count(DISTINCT row_id) FROM outputs").fetchone()
    assert total == distinct == ROWS
    resent = sum(1 for n in stats["per_key"].values() if n > 1)
    assert len(stats["per_key"]) == ROWS
    if sig == signal.SIGINT:
        assert resent == 0  # Ctrl-C drains what is in flight and stores it
    else:
        # only requests in flight or finished-but-not-yet-committed at the kill are re-sent
        assert resent <= CONCURRENCY + 64, resent
    assert stats["requests_total"] >= sent_before
