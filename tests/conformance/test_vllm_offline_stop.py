"""Stopping the ``vllm`` backend: chunks never wait for requests the runner holds back, a
cancelled run does not wait for the engine, and ``enrich run`` stops within seconds of SIGTERM
or a second Ctrl-C while a chunk runs (stand-in engine, NOT vLLM; see ``vllm_standin/``)."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_vllm_offline_support import (
    MODEL,
    enrich_command,
    items_job,
    make_project,
    rows_of,
    standin_on_path,
    subprocess_env,
)

from enrich.backends.vllm_offline import VLLMOfflineBackend
from enrich.jobs import BackendSpec


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stand-in ``vllm`` first on ``sys.path``; yields its ``control`` module."""
    yield from standin_on_path(monkeypatch)


# -- chunking: any outstanding cap, any arrival pattern ----------------------------------------
def _request(i: int) -> Any:
    from enrich.backends.base import LLMRequest

    schema = {"type": "object", "properties": {"label": {"enum": ["good", "bad"]}},
              "required": ["label"]}
    return LLMRequest(f"k{i}", str(i), [{"role": "user", "content": f"row {i}"}],
                      {"temperature": 0.0, "max_tokens": 40}, schema, "label")


async def _drive(backend: VLLMOfflineBackend, total: int, cap: int, gaps: list[float]
                 ) -> list[Any]:
    """What the runner does: at most ``cap`` requests outstanding, requests in bursts with
    ``gaps`` (seconds) between them, the stream closed only when nothing is outstanding."""
    import asyncio

    queue: asyncio.Queue[Any] = asyncio.Queue()
    state = {"outstanding": 0, "sent": 0}
    room = asyncio.Event()

    async def produce() -> None:
        for i in range(total):
            while state["outstanding"] >= cap:
                room.clear()
                await room.wait()
            if gaps and i % 7 == 0:
                await asyncio.sleep(gaps[i % len(gaps)])
            state["outstanding"] += 1
            state["sent"] += 1
            queue.put_nowait(_request(i))

    async def stream() -> Any:
        while (request := await queue.get()) is not None:
            yield request

    producer = asyncio.create_task(produce())
    results = []
    async for result in backend.generate(stream()):
        results.append(result)
        state["outstanding"] -= 1
        room.set()
        if state["outstanding"] == 0 and producer.done():
            queue.put_nowait(None)
    await producer
    return results


@pytest.mark.timeout(120)
def test_chunks_never_wait_for_requests_the_runner_holds_back(standin: Any) -> None:
    import asyncio

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=15, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(total=st.integers(1, 400), cap=st.integers(1, 300),
           concurrency=st.sampled_from([1, 64, 100, 256]),
           gaps=st.lists(st.sampled_from([0.0, 0.001, 0.02]), max_size=4))
    def check(total: int, cap: int, concurrency: int, gaps: list[float]) -> None:
        backend = VLLMOfflineBackend(BackendSpec(kind="vllm", model=MODEL), concurrency)
        standin.reset()

        async def main() -> list[Any]:
            await backend.start()
            return await asyncio.wait_for(_drive(backend, total, cap, gaps), 30)

        results = asyncio.run(main())
        assert sorted(int(r.request.row_id) for r in results) == list(range(total))
        assert all(r.ok and r.content for r in results)
        sizes = [len(c.inputs) for c in standin.instances()[-1].calls]
        assert sum(sizes) == total and max(sizes) <= min(backend.batch_size, cap)

    check()


def test_cancelling_generate_mid_chunk_returns_at_once(standin: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk runs in a daemon thread: cancelling the run does not wait for the engine call,
    and ``asyncio.run`` does not join it at exit (``asyncio.to_thread`` would)."""
    import asyncio

    monkeypatch.setenv("VLLM_STANDIN_DELAY_S", "20")
    backend = VLLMOfflineBackend(BackendSpec(kind="vllm", model=MODEL))

    async def main() -> None:
        await backend.start()

        async def stream() -> Any:
            yield _request(0)
            await asyncio.Event().wait()  # more requests may come

        async def consume() -> None:
            async for _ in backend.generate(stream()):
                pass

        task = asyncio.create_task(consume())
        while not standin.instances()[-1].calls:  # the chunk is running
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.perf_counter()
    asyncio.run(main())
    assert time.perf_counter() - started < 5


# -- stopping a real `enrich run` while a chunk runs ------------------------------------------
def _wait_for_chunk(proc: Any, calls: Path, timeout: float = 60.0) -> None:
    """Until the stand-in has started its first engine call (or the process ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if calls.exists() and '"event": "start"' in calls.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"enrich exited early ({proc.returncode}): "
                                 f"{proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("the engine was never called")


def _prompts_answered(calls: Path) -> int:
    lines = [orjson.loads(line) for line in calls.read_text().splitlines()]
    return sum(c["prompts"] for c in lines if c["event"] == "end" and c["error"] is None)


def _stop_mid_chunk(tmp_path: Path, delay: str, signals: list[int]) -> tuple[Path, Path, Path]:
    """Start ``enrich run`` on 300 rows with a slow stand-in, send ``signals`` while the first
    chunk runs, and check the process is gone within 5 s of the first signal."""
    import subprocess

    project = make_project(tmp_path / "project", 300)
    job, db, calls = items_job(project, concurrency=64), tmp_path / "enrich.duckdb", \
        tmp_path / "calls.jsonl"
    env = subprocess_env(VLLM_STANDIN_DELAY_S=delay, VLLM_STANDIN_CALLS_FILE=str(calls))
    proc = subprocess.Popen([*enrich_command(), "run", str(job), "--db", str(db)], cwd=project,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_chunk(proc, calls)
        time.sleep(0.5)  # mid-chunk
        sent = time.monotonic()
        for signum in signals:
            proc.send_signal(signum)
            time.sleep(0.3)
        proc.communicate(timeout=30)
        assert time.monotonic() - sent < 5, "enrich did not stop within 5 s"
        assert proc.returncode == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return job, db, calls


def _rerun_completes(job: Path, db: Path, calls: Path, answered_before: int) -> None:
    import subprocess

    calls.unlink()
    done = subprocess.run([*enrich_command(), "run", str(job), "--db", str(db)],
                          cwd=job.parent.parent, capture_output=True, text=True, timeout=120,
                          env=subprocess_env(VLLM_STANDIN_CALLS_FILE=str(calls)))
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = rows_of(db, "SELECT run_id, status FROM runs")  # the same run, resumed
    assert run["status"] == "finished"
    assert rows_of(db, "SELECT count(*) AS n FROM outputs")[0]["n"] == 300
    assert _prompts_answered(calls) == 300 - answered_before  # nothing sent twice


@pytest.mark.timeout(180)
def test_sigterm_mid_chunk_stores_the_chunk_and_stops(tmp_path: Path) -> None:
    import signal

    job, db, calls = _stop_mid_chunk(tmp_path, "2", [signal.SIGTERM])
    answered = _prompts_answered(calls)  # the chunk in flight finished and was stored
    assert answered == 64
    assert rows_of(db, "SELECT count(*) AS n FROM outputs")[0]["n"] == answered
    assert rows_of(db, "SELECT status FROM runs")[0]["status"] == "interrupted"
    _rerun_completes(job, db, calls, answered)


@pytest.mark.timeout(180)
def test_second_ctrl_c_leaves_a_long_chunk_behind(tmp_path: Path) -> None:
    import signal

    job, db, calls = _stop_mid_chunk(tmp_path, "120", [signal.SIGINT, signal.SIGINT])
    assert _prompts_answered(calls) == 0  # the 2-minute chunk was abandoned, not awaited
    assert rows_of(db, "SELECT count(*) AS n FROM outputs")[0]["n"] == 0
    _rerun_completes(job, db, calls, 0)
