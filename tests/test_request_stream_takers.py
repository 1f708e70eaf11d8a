"""The request stream shared by a backend's workers: several tasks take from it at once
(``StreamRequests.take``, what the HTTP backend's workers do instead of a queue of their own)."""

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_helpers import run_cli_process
from scale_helpers import batch_project

from enrich.backends.base import LLMRequest
from enrich.request_stream import RequestStream, StreamRequests, WorkerFeed
from enrich.testing.fake_server import FakeServer, FakeServerConfig


def _request(i: int) -> LLMRequest:
    return LLMRequest(str(i), str(i), [], {})


@settings(max_examples=60, deadline=None)
@given(takers=st.integers(1, 8), puts=st.integers(0, 40), stop_after=st.integers(0, 45),
       first=st.booleans())
def test_every_request_goes_to_exactly_one_taker_and_every_taker_sees_the_end(
        takers: int, puts: int, stop_after: int, first: bool) -> None:
    """However many workers take at once and whenever a stop comes: each request is handed
    to one worker or dropped (never both, never twice), and every worker gets None and ends
    (none is left waiting for a request that will not come)."""

    async def scenario() -> tuple[list[str], list[str]]:
        dropped: list[str] = []
        stream = RequestStream(on_drop=lambda request: dropped.append(request.key))
        stream.limit = takers
        head = _request(0) if first else None
        for i in range(1 if first else 0, puts):
            stream.put(_request(i))
        shared = stream.iterate(head)
        handed: list[str] = []

        async def worker() -> None:
            while (request := await shared.take()) is not None:
                handed.append(request.key)
                await asyncio.sleep(0)
                stream.returned()

        tasks = [asyncio.create_task(worker()) for _ in range(takers)]
        for _ in range(stop_after):
            await asyncio.sleep(0)
        if stop_after % 2:
            stream.stop()
        else:
            stream.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 2.0)  # every worker saw the end
        return handed, dropped

    handed, dropped = asyncio.run(scenario())
    expected = [str(i) for i in range(puts if puts or not first else 1)]
    assert sorted(handed + dropped, key=int) == expected
    assert len(set(handed)) == len(handed)


def test_the_http_workers_take_from_the_stream_directly_and_from_anything_else_via_a_pump(
        ) -> None:
    """The runner's stream needs no pump task; a plain async iterable (one reader only) gets
    one, and its requests all come out once, then the end for every worker."""

    async def plain() -> "asyncio.AsyncIterator[LLMRequest]":
        for i in range(10):
            yield _request(i)

    async def scenario() -> tuple[int, int, list[str]]:
        stream = RequestStream(on_drop=lambda request: None)
        direct = WorkerFeed.of(stream.iterate(), 4)
        pumped = WorkerFeed.of(plain(), 3)
        tasks = [asyncio.create_task(helper) for helper in pumped.helpers]
        got: list[str] = []

        async def worker() -> None:
            while (request := await pumped.take()) is not None:
                got.append(request.key)
                await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(*tasks, *(worker() for _ in range(3))), 2.0)
        return len(direct.helpers), len(pumped.helpers), got

    direct_helpers, pumped_helpers, got = asyncio.run(scenario())
    assert (direct_helpers, pumped_helpers) == (0, 1)
    assert sorted(got, key=int) == [str(i) for i in range(10)]


def test_stream_requests_is_still_an_async_iterator_for_batch_backends() -> None:
    """llama.cpp, vLLM offline and Ray read the stream with ``async for``."""

    async def scenario() -> list[str]:
        stream = RequestStream(on_drop=lambda request: None)
        for i in range(1, 4):
            stream.put(_request(i))
        stream.close()
        requests = stream.iterate(_request(0))
        assert isinstance(requests, StreamRequests)
        return [request.key async for request in requests]

    assert asyncio.run(scenario()) == ["0", "1", "2", "3"]


def test_waiting_is_zero_while_nothing_can_be_handed_over() -> None:
    """A backend that holds answers back (the answer guard) flushes them when idle; a stream
    at its limit, or paused, has nothing to hand over however much is queued, so it must not
    look busy — or the held answers never come back to lower ``out`` (a deadlock)."""

    async def scenario() -> list[int]:
        stream = RequestStream(on_drop=lambda request: None)
        stream.limit = 1
        for i in range(3):
            stream.put(_request(i))
        shared = stream.iterate()
        seen = [shared.waiting()]                  # 3 queued, none out
        await shared.take()
        seen.append(shared.waiting())              # at the limit: 0 although 2 are queued
        stream.returned()
        seen.append(shared.waiting())              # room again
        stream.pause()
        seen.append(shared.waiting())              # paused
        stream.resume()
        stream.close()
        seen.append(shared.waiting())              # the end marker is not a request
        return seen

    assert asyncio.run(scenario()) == [3, 0, 2, 0, 2]


@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_a_run_whose_answers_are_held_back_still_ends(tmp_path: Path, concurrency: str) -> None:
    """A server that ignores the schema, fewer workers than rows: the guard holds the first
    free-text answers, the stream is at its limit, and the run must still end with the one
    error (it hung before `waiting()` said 0 at the limit)."""
    with FakeServer(FakeServerConfig(dialect="llama-cpp-python")) as server:
        job = batch_project(tmp_path, server.url)
        result = run_cli_process(["run", str(job), "--db", "e.duckdb", "-q", "--server", "vllm",
                                  "--limit", "3", "--concurrency", concurrency], tmp_path,
                                 timeout=60)
    assert result.code == 2, result.stderr
    assert "ignores the output schema" in result.stderr
