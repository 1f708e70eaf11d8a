"""The request stream shared by a backend's workers: several tasks take from it at once
(``StreamRequests.take``, what the HTTP backend's workers do instead of a queue of their own)."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.backends.base import LLMRequest
from enrich.request_stream import RequestStream, StreamRequests, WorkerFeed


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
