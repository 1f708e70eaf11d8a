"""Server death is not row death (issue 16): a server that stops answering pauses the run; one
that comes back lets it go on; one that does not stops it as interrupted with its rows pending
(never stored as `connection` failures), and a plain rerun finishes them.

In process with a backend whose "server" goes down on cue (it has its own ``probe()``), and end
to end with the fake server run as a subprocess, killed and restarted on the same port.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from conftest import BASIC_JOB, write_job
from fakes import FakeBackend, valid_item_metadata
from reliability_helpers import assert_store_sound, job_yaml, make_project, start_cli

from enrich.backends.base import LLMRequest, LLMResult
from enrich.errors import BackendError
from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.runner import Runner
from enrich.server_watch import ServerWatch, WatchCallbacks
from enrich.store import Store
from enrich.store.queries import consistency_problems

ROWS = 30


class Outage:
    """A server that goes down at its ``start_after``-th request, for ``seconds`` (None: for
    good): meanwhile every request fails to connect and a probe gets no answer."""

    def __init__(self, start_after: int, seconds: float | None):
        self.start_after = start_after
        self.seconds = seconds
        self.calls = 0
        self.down_at: float | None = None

    def down(self) -> bool:
        if self.down_at is None:
            return False
        return self.seconds is None or time.monotonic() < self.down_at + self.seconds

    def answer(self, request: LLMRequest) -> LLMResult:
        self.calls += 1
        if self.calls == self.start_after:
            self.down_at = time.monotonic()
        if self.down():
            return LLMResult(request, error_kind="connection", sends=2,
                             error="ClientConnectorError: Connect call failed")
        return valid_item_metadata(request)


class OutageBackend(FakeBackend):
    url = "http://gpu-box:8000/v1"

    def __init__(self, outage: Outage):
        super().__init__(outage.answer, delay=0.01, concurrency=2)
        self.outage = outage
        self.probes = 0

    async def probe(self) -> bool:
        self.probes += 1
        return not self.outage.down()


def _project_rows(project: Path, rows: int = ROWS) -> None:
    lines = ["movie_id,title,year,genres,tags"]
    lines += [f"{i},Film {i},1995,Drama,tag{i}" for i in range(1, rows + 1)]
    (project / "data" / "movies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(project: Path, backend: FakeBackend, server_wait_s: float = 10.0):
    job = load_job(write_job(project, BASIC_JOB))
    with Store(project / "enrich.duckdb") as store:
        try:
            return asyncio.run(Runner(RunPlan.build(job, store), store, backend,
                                      server_wait_s=server_wait_s).run())
        finally:
            assert consistency_problems(store) == {}


def _table(project: Path, sql: str) -> list[tuple]:
    with Store(project / "enrich.duckdb", read_only=True) as store:
        return store.sql(sql).fetchall()


def test_a_server_back_within_the_wait_lets_the_run_finish_with_every_row_ok(
        project: Path) -> None:
    _project_rows(project)
    backend = OutageBackend(Outage(start_after=6, seconds=1.2))
    started = time.monotonic()
    summary = _run(project, backend)
    assert (summary.status, summary.ok, summary.failed, summary.pending) == (
        "finished", ROWS, 0, 0)
    assert backend.probes >= 2  # down at the first probe, up at a later one
    assert time.monotonic() - started < 8
    resent = [key for key, n in backend.calls.items() if n > 1]
    assert resent, "the requests that met the outage were sent again"


def test_a_server_that_does_not_come_back_stops_the_run_with_its_rows_pending(
        project: Path) -> None:
    _project_rows(project)
    backend = OutageBackend(Outage(start_after=6, seconds=None))
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"the server at http://gpu-box:8000/v1 stopped "
                                           r"answering \(no answer for 1 s.*\); \d+ rows pending"):
        _run(project, backend, server_wait_s=1.0)
    assert time.monotonic() - started < 1.0 + 3 + 2  # wait + grace + slack
    [(run_id, status)] = _table(project, "SELECT run_id, status FROM runs")
    assert status == "interrupted"
    assert _table(project, "SELECT count(*) FROM failures") == [(0,)]  # pending, not failed
    ok = _table(project, "SELECT count(*) FROM outputs")[0][0]
    assert 0 < ok < ROWS
    healthy = FakeBackend()  # the server is back: a plain rerun finishes the same run
    summary = _run(project, healthy)
    assert (summary.run_id, summary.status, summary.ok, summary.failed) == (
        run_id, "finished", ROWS, 0)
    assert len(healthy.calls) == ROWS - ok  # only what was pending


def test_a_connection_failure_on_a_live_server_is_the_rows_own(project: Path) -> None:
    """The probe answers: the failure is recorded (as a transient kind, re-sent by a plain
    rerun), and the run goes on without pausing."""

    def one_row_fails(request: LLMRequest) -> LLMResult:
        if request.row_id == "3":
            return LLMResult(request, error_kind="connection", error="reset by peer")
        return valid_item_metadata(request)

    class Live(FakeBackend):
        url = "http://gpu-box:8000/v1"

        async def probe(self) -> bool:
            return True

    summary = _run(project, Live(one_row_fails))
    assert (summary.status, summary.failed, summary.failures_by_kind) == (
        "finished", 1, {"connection": 1})
    again = FakeBackend()
    assert _run(project, again).ok == 5 and [r.row_id for r in again.requests] == ["3"]


def test_the_watch_probes_with_backoff_until_its_wait_is_over() -> None:
    gone: list[str] = []
    paused: list[bool] = []

    async def never() -> bool:
        probes.append(time.monotonic())
        return False

    async def scenario() -> None:
        watch = ServerWatch("http://x/v1", never, 2.0, WatchCallbacks(
            lambda: paused.append(True), lambda held: None, lambda result: None, gone.append))
        request = LLMRequest("k", "r", [], {})
        assert watch.hold(LLMResult(request, error_kind="timeout", error="no answer"))
        assert not watch.hold(LLMResult(request, error_kind="schema_violation"))
        while not gone:
            await asyncio.sleep(0.05)
        assert "no answer for 2 s" in gone[0] and watch.note() is not None
        await watch.close()

    probes: list[float] = []
    asyncio.run(scenario())
    assert paused == [True]
    gaps = [b - a for a, b in zip(probes, probes[1:], strict=False)][:-1]  # (the last: cut)
    assert len(gaps) >= 2 and all(b >= a * 1.5 for a, b in zip(gaps, gaps[1:], strict=False))
    assert probes[-1] - probes[0] <= 2.0 + 0.2


# -- end to end: the fake server as a process, killed and restarted on the same port ------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "enrich.testing.fake_server", "--port", str(port),
         "--latency-ms", "40", "--seed", "1"], text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the port may linger for a moment after a kill
        line = process.stdout.readline() if process.stdout else ""
        if line.startswith("READY"):
            return process
        if process.poll() is not None:
            time.sleep(0.2)
            process = subprocess.Popen(process.args, text=True, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
    raise AssertionError("the fake server did not start")


def _requests_seen(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return int(orjson.loads(response.read())["requests_total"])


def _kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)


@pytest.fixture
def server_port() -> tuple[int, list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield _free_port(), started
    for process in started:
        if process.poll() is None:
            _kill(process)


def _end_to_end_project(tmp_path: Path, port: int, wait_s: float) -> tuple[Path, Path]:
    project = make_project(tmp_path / "project", rows=200)
    job = write_job(project, job_yaml(f"http://127.0.0.1:{port}/v1", concurrency=4,
                                      backend_extra=f"max_retries: 1, server_wait_s: {wait_s}"))
    return project, job


def test_a_killed_server_stops_the_run_and_one_plain_rerun_finishes_every_row(
        tmp_path: Path, server_port: tuple[int, list[subprocess.Popen[str]]]) -> None:
    port, started = server_port
    started.append(_start_server(port))
    project, job = _end_to_end_project(tmp_path, port, wait_s=3)
    run = start_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
    while _requests_seen(port) < 40:
        assert run.poll() is None, run.communicate()
        time.sleep(0.02)
    _kill(started[0])
    killed = time.monotonic()
    out, err = run.communicate(timeout=60)
    assert time.monotonic() - killed < 3 + 3 + 5  # wait + grace + the backend's own retries
    lines = [line for line in err.splitlines() if line.strip()]
    assert run.returncode == 2 and len(lines) == 1, out + err
    assert f"the server at http://127.0.0.1:{port}/v1 stopped answering" in lines[0]
    assert "rows pending" in lines[0] and "run the same command again" in lines[0]
    with Store(project / "e.duckdb", read_only=True) as store:
        assert store.sql("SELECT status FROM runs").fetchall() == [("interrupted",)]
        assert store.sql("SELECT count(*) FROM failures").fetchone() == (0,)
    started.append(_start_server(port))
    rerun = start_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out + err
    with Store(project / "e.duckdb", read_only=True) as store:
        assert store.sql("SELECT count(DISTINCT row_id), count(*) FROM outputs").fetchone() == (
            200, 200)
        assert store.sql("SELECT count(*) FROM failures").fetchone() == (0,)
        assert store.sql("SELECT count(*), min(status) FROM runs").fetchone() == (1, "finished")
    assert_store_sound(project / "e.duckdb", project)


def test_a_server_restarted_within_the_wait_lets_the_same_run_finish(
        tmp_path: Path, server_port: tuple[int, list[subprocess.Popen[str]]]) -> None:
    port, started = server_port
    started.append(_start_server(port))
    project, job = _end_to_end_project(tmp_path, port, wait_s=60)
    run = start_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
    while _requests_seen(port) < 40:
        assert run.poll() is None, run.communicate()
        time.sleep(0.02)
    _kill(started[0])
    time.sleep(2.0)
    assert run.poll() is None  # paused, waiting for the server
    started.append(_start_server(port))
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    with Store(project / "e.duckdb", read_only=True) as store:
        assert store.sql("SELECT count(*) FROM outputs").fetchone() == (200,)
        assert store.sql("SELECT count(*) FROM failures").fetchone() == (0,)
    assert_store_sound(project / "e.duckdb", project)
