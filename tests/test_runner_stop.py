"""Every run can be stopped within 5 s, whatever it is doing (issue 17).

End to end, with a clock: a real ``enrich run`` process gets SIGTERM, SIGINT or SIGHUP while
(a) the server never answers, (b) the server answers 429 with ``Retry-After: 3600``, (c) a
template loops on some rows, (d) a normal run; it exits within 5 s with code 130 and the resume
hint, nothing is sent after the stop, and a rerun afterwards completes the rows. The default
suite runs each situation with one signal; the full matrix is ``slow``.

In process: the grace period, a second stop, a backend task that raised, a backend that ends
without answering, and the backend's ``status_note`` on the progress line.
"""

import asyncio
import io
import os
import signal
import socket
import time
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

import pytest
from conftest import BASIC_JOB, write_job
from fakes import FakeBackend, valid_item_metadata
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_helpers import (
    assert_store_sound,
    job_yaml,
    make_project,
    run_cli_process,
    start_cli,
)
from reliability_helpers import write_job as write_harness_job
from rich.console import Console

from enrich.backends.base import LLMRequest, LLMResult
from enrich.errors import BackendError
from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.runner import Runner
from enrich.store import Store
from enrich.store.queries import consistency_problems
from enrich.testing.fake_server import FakeServer, FakeServerConfig, FaultRates

EXIT_WITHIN_S = 5.0
ROWS = 20
CONCURRENCY = 4
LOOPING = ("5", "6", "7")  # rows whose prompt renders for ever (cut at 2 s each)
LOOP_PROMPT = """name: label_item
schema: ItemLabel
params: {temperature: 0.0, max_tokens: 200}
user: |
  Item {{ item_id }}: {{ title }}
  {% if item_id in LOOPING %}{% for i in range(100000) %}
  {% for j in range(100000) %}x{% endfor %}{% endfor %}{% endif %}
""".replace("LOOPING", str(list(LOOPING)))

SERVERS = {
    "never-answers": FakeServerConfig(faults=FaultRates(hang=1.0), hang_s=3600, seed=1),
    "retry-after-3600": FakeServerConfig(faults=FaultRates(http_429=1.0), retry_after_s=3600,
                                         seed=1),
    "looping-template": FakeServerConfig(latency_ms=5, seed=1),
    "normal": FakeServerConfig(latency_ms=20, latency_jitter_ms=10, seed=1),
}
HEALTHY = FakeServerConfig(latency_ms=5, seed=1)
DEFAULT = {"never-answers": signal.SIGTERM, "retry-after-3600": signal.SIGINT,
           "looping-template": signal.SIGHUP, "normal": signal.SIGHUP}
CASES = [pytest.param(name, sig, id=f"{name}-{sig.name}",
                      marks=() if DEFAULT[name] == sig else pytest.mark.slow)
         for name in SERVERS for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_the_moment(name: str, server: FakeServer, project: Path, process: object) -> None:
    """Until the run is doing what the scenario is about."""
    deadline = time.monotonic() + 60
    if name == "looping-template":  # rendering starts right after the store is opened
        while not (project / "e.duckdb").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(1.5)
        return
    enough = 60 if name == "normal" else CONCURRENCY
    while server.stats()["requests_total"] < enough:
        assert process.poll() is None, process.communicate()  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.005)


@pytest.mark.parametrize(("name", "sig"), CASES)
def test_a_signal_stops_the_run_within_5_s_and_a_rerun_completes_it(
        tmp_path: Path, name: str, sig: signal.Signals) -> None:
    rows = 300 if name == "normal" else ROWS
    project = make_project(tmp_path / "project", rows=rows)
    if name == "looping-template":
        (project / "prompts" / "label_item.yaml").write_text(LOOP_PROMPT, encoding="utf-8")
    port = _free_port()
    job = write_harness_job(project, job_yaml(f"http://127.0.0.1:{port}/v1",
                                              concurrency=CONCURRENCY))
    args = ["run", str(job), "--db", "e.duckdb", "-q"]
    with FakeServer(SERVERS[name], port=port) as server:
        process = start_cli(args, project)
        _wait_for_the_moment(name, server, project, process)
        sent_at_stop = server.stats()["requests_total"]
        os.kill(process.pid, sig)
        stopped = time.monotonic()
        out, err = process.communicate(timeout=60)
        took = time.monotonic() - stopped
        sent_after_exit = server.stats()["requests_total"]
    print(f"{name}: exited {took:.2f} s after {sig.name}")
    assert took < EXIT_WITHIN_S, f"{name}: exited {took:.1f} s after {sig.name}"
    assert "Traceback" not in out + err, out + err
    assert process.returncode == 130, out + err
    assert "again to resume" in out + err, out + err
    # nothing new after the stop: at most the requests already handed to the HTTP workers
    assert sent_after_exit - sent_at_stop <= CONCURRENCY
    assert_store_sound(project / "e.duckdb", project)
    with FakeServer(HEALTHY, port=port):
        final = run_cli_process(args, project)
    assert final.code == 0, final.stderr
    with Store(project / "e.duckdb", read_only=True) as store:
        outputs = store.sql("SELECT count(*) FROM outputs").fetchone()[0]
        failures = store.sql("SELECT row_id, error_kind FROM failures").fetchall()
        assert store.sql("SELECT count(*), min(status) FROM runs").fetchone() == (1, "finished")
    if name == "looping-template":
        assert sorted(failures) == [(row, "render_limit") for row in LOOPING]
    else:
        assert failures == []
    assert outputs + len(failures) == rows


# -- in process ---------------------------------------------------------------------------------


def _runner(project: Path, backend: object, **kwargs: object) -> tuple[Runner, Store]:
    job = load_job(write_job(project, BASIC_JOB))
    store = Store(project / "enrich.duckdb")
    return Runner(RunPlan.build(job, store), store, backend, **kwargs), store  # type: ignore


async def _stop_after(runner: Runner, seconds: float) -> None:
    await asyncio.sleep(seconds)
    runner._on_stop_signal()  # what the first Ctrl-C / SIGTERM / SIGHUP calls


def test_requests_in_flight_get_the_grace_period_then_stay_pending(project: Path) -> None:
    runner, store = _runner(project, FakeBackend(delay=3600), grace_s=0.5)

    async def scenario() -> object:
        stopper = asyncio.create_task(_stop_after(runner, 0.3))
        summary = await runner.run()
        await stopper
        return summary

    started = time.monotonic()
    with store:
        summary = asyncio.run(scenario())
        assert consistency_problems(store) == {}
    assert time.monotonic() - started < 0.3 + 0.5 + 1.5
    assert (summary.status, summary.ok, summary.failed, summary.pending) == (  # type: ignore
        "interrupted", 0, 0, 5)
    again = FakeBackend()  # the rerun sends what the stop dropped
    runner, store = _runner(project, again)
    with store:
        assert asyncio.run(runner.run()).ok == 5
    assert len(again.calls) == 5


def test_answers_within_the_grace_period_are_stored(project: Path) -> None:
    backend = FakeBackend(delay=0.4, concurrency=2)  # two at a time, 0.4 s each
    runner, store = _runner(project, backend, grace_s=0.6)

    async def scenario() -> object:
        async def stop_once_sending() -> None:
            while not backend.started:
                await asyncio.sleep(0.01)
            await _stop_after(runner, 0.1)

        stopper = asyncio.create_task(stop_once_sending())
        summary = await runner.run()
        await stopper
        return summary

    with store:
        summary = asyncio.run(scenario())
    # the two answers that came back within the grace were stored; the rest is pending
    assert (summary.status, summary.ok, summary.pending) == ("interrupted", 2, 3)  # type: ignore


class RaisingWorkers(FakeBackend):
    """Like an HTTP backend: worker tasks take requests from a queue; one of them raises, so
    its request never gets an answer."""

    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        inbox: asyncio.Queue[LLMRequest] = asyncio.Queue()
        outbox: asyncio.Queue[LLMResult] = asyncio.Queue()

        async def worker() -> None:
            while True:
                request = await inbox.get()
                if request.row_id == "3":
                    raise ZeroDivisionError("division by zero in the worker")
                outbox.put_nowait(valid_item_metadata(request))

        async def pump() -> None:
            async for request in requests:
                inbox.put_nowait(request)

        tasks = [asyncio.create_task(worker()) for _ in range(2)]
        tasks.append(asyncio.create_task(pump()))
        try:
            while True:
                yield await outbox.get()
        finally:
            for task in tasks:
                task.cancel()


def test_a_backend_task_that_raised_ends_the_run_with_an_error_naming_it(project: Path) -> None:
    runner, store = _runner(project, RaisingWorkers(), grace_s=0.5)
    started = time.monotonic()
    with store, pytest.raises(BackendError, match=r"raised ZeroDivisionError: division by zero"):
        asyncio.run(runner.run())
    assert time.monotonic() - started < 5
    with Store(project / "enrich.duckdb", read_only=True) as store:
        assert store.sql("SELECT status FROM runs").fetchall() == [("interrupted",)]
        assert store.sql("SELECT count(*) FROM failures").fetchone() == (0,)  # row 3: pending
        assert store.sql("SELECT count(*) FROM outputs WHERE row_id = '3'").fetchone() == (0,)


class EndsEarly(FakeBackend):
    """Answers the first two requests, then ends its stream."""

    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        answered = 0
        async for request in requests:
            if answered == 2:
                return
            answered += 1
            yield valid_item_metadata(request)


def test_a_backend_that_ends_without_answering_everything_is_an_error(project: Path) -> None:
    runner, store = _runner(project, EndsEarly())
    with store, pytest.raises(BackendError, match="ended without answering 1 requests"):
        asyncio.run(runner.run())


def test_the_backends_status_note_shows_on_the_progress_line(project: Path) -> None:
    backend = FakeBackend(delay=0.7)
    backend.status_note = "waiting 42 s (Retry-After)"  # type: ignore[attr-defined]
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=220)
    runner, store = _runner(project, backend, console=console)
    with store:
        asyncio.run(runner.run())
    assert "waiting 42 s (Retry-After)" in screen.getvalue()


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(1, 6), puts=st.integers(0, 30), answered_before_stop=st.integers(0, 30))
def test_the_request_stream_never_hands_out_more_than_its_limit_nor_anything_after_a_stop(
        limit: int, puts: int, answered_before_stop: int) -> None:
    """Whatever the number of requests and when the stop comes: at most ``limit`` are out
    with the backend at once, nothing is handed out after the stop, and every request is
    either handed out or dropped (pending), never lost or duplicated."""
    from enrich.request_stream import RequestStream

    async def scenario() -> tuple[list[str], list[str], int]:
        dropped: list[str] = []
        stream = RequestStream(on_drop=lambda request: dropped.append(request.key))
        stream.limit = limit
        for i in range(puts):
            stream.put(LLMRequest(str(i), str(i), [], {}))
        handed: list[str] = []
        most_out = 0

        async def backend() -> None:
            nonlocal most_out
            async for request in stream.iterate():
                handed.append(request.key)
                most_out = max(most_out, stream.out)

        pulling = asyncio.create_task(backend())
        for _ in range(answered_before_stop):
            await asyncio.sleep(0)
            if stream.out:
                stream.returned()
        stream.stop()
        handed_at_stop = len(handed)
        await asyncio.wait_for(pulling, 1.0)
        assert len(handed) == handed_at_stop  # nothing after the stop
        assert most_out <= limit
        return handed, dropped, handed_at_stop

    handed, dropped, _ = asyncio.run(scenario())
    assert sorted(handed + dropped, key=int) == [str(i) for i in range(puts)]


def test_a_stop_before_the_run_opens_leaves_no_run(project: Path) -> None:
    """Ctrl-C while the source is counted: the runner's handler is already in place (nothing
    raised inside a DuckDB call), and no run is opened."""
    from enrich.errors import Interrupted

    runner, store = _runner(project, FakeBackend())
    count = runner.plan.count_rows

    def count_then_stop() -> int:
        runner._signals._on_signal(signal.SIGINT, None)  # (as the handler in place would)
        return count()

    runner.plan.count_rows = count_then_stop  # type: ignore[method-assign]
    with store:
        with pytest.raises(Interrupted, match="before the run started"):
            asyncio.run(runner.run())
        assert store.sql("SELECT count(*) FROM runs").fetchone() == (0,)
    assert signal.getsignal(signal.SIGINT) is not runner._signals._on_signal  # handed back
