"""Test doubles: an in-process backend whose answers and failures the test controls."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable

import orjson

from enrich.backends.base import LLMRequest, LLMResult

Answer = Callable[[LLMRequest], LLMResult]


def valid_item_metadata(request: LLMRequest) -> LLMResult:
    """A schema-valid ItemMetadata answer that names the row."""
    content = orjson.dumps({
        "clean_title": f"Item {request.row_id}", "summary": "A fine item.",
        "attributes": {"category": "film", "creator": "", "properties": ["p"]},
        "keywords": ["k"]}).decode()
    return LLMResult(request, content=content, raw="{}", prompt_tokens=10, completion_tokens=5)


class FakeBackend:
    """Answers with ``answer(request)``; counts calls per cache key.

    Args:
        answer: builds the result of a request.
        delay: seconds each answer takes (to keep requests in flight).
        concurrency: requests answered at once.
    """

    kind = "fake"

    def __init__(self, answer: Answer = valid_item_metadata, delay: float = 0.0,
                 concurrency: int = 4, model: str = "fake-model"):
        self.answer = answer
        self.delay = delay
        self.concurrency = concurrency
        self.model = model
        self.calls: Counter[str] = Counter()
        self.requests: list[LLMRequest] = []
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        semaphore = asyncio.Semaphore(self.concurrency)
        results: asyncio.Queue[LLMResult | None] = asyncio.Queue()

        async def one(request: LLMRequest) -> None:
            async with semaphore:
                if self.delay:
                    await asyncio.sleep(self.delay)
                self.calls[request.key] += 1
                self.requests.append(request)
                results.put_nowait(self.answer(request))

        async def pump() -> None:
            tasks = []
            async for request in requests:
                tasks.append(asyncio.create_task(one(request)))
            await asyncio.gather(*tasks)
            results.put_nowait(None)

        pumping = asyncio.create_task(pump())
        while (result := await results.get()) is not None:
            yield result
        await pumping
