"""The stream of requests a run hands to its backend: queued, gated, paused and stopped here.

The runner puts requests in (rendered rows, repair re-asks, requests held while the server was
down); the backend pulls them with ``async for``. The stream:

- **gates** a backend that sends whatever it takes at once (the HTTP backend's workers): it hands
  over a request only while fewer than ``limit`` are out with the backend, so none wait in the
  backend's own queue, and after a stop nothing already handed over is still to be sent;
- **pauses** while the server is down (nothing is handed over until :meth:`resume`);
- **stops**: the requests still queued are dropped (``on_drop``: they stay pending) and the
  backend sees the end of the stream at once.

Example:
    >>> stream = RequestStream(on_drop=lambda request: None)
    >>> stream.put(request); stream.close()                          # doctest: +SKIP
    >>> async for request in stream.iterate(): ...                   # doctest: +SKIP

The iterator the backend gets is safe to share: several tasks may await its ``take()`` at once
(the HTTP backend's workers each take their next request from it directly, with no queue of
their own in between, which saves two event-loop wake-ups per request at high concurrency).
"""

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from enrich.backends.base import LLMRequest


class RequestStream:
    """Requests waiting for the backend.

    Args:
        on_drop: called with each queued request a stop drops (it was never sent).
    """

    def __init__(self, on_drop: Callable[[LLMRequest], object]):
        self.on_drop = on_drop
        self.limit: int | None = None
        self.out = 0  # handed to the backend, no result back yet
        self.closed = False
        self.stopped = False
        self.paused = False
        self._queue: asyncio.Queue[LLMRequest | None] = asyncio.Queue()
        self._wake = asyncio.Event()

    def put(self, request: LLMRequest) -> None:
        self._queue.put_nowait(request)

    def close(self) -> None:
        """No more requests: the backend sees the end once the queue is empty."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    def stop(self) -> None:
        """Hand nothing more to the backend; what is queued is dropped."""
        self.stopped = True
        self.close()
        self._wake.set()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    def returned(self) -> None:
        """A result came back from the backend (one per request handed over)."""
        self.out -= 1
        if self.limit is not None and self.out < self.limit:
            self._wake.set()

    def _blocked(self) -> bool:
        return self.paused or (self.limit is not None and self.out >= self.limit)

    async def _wait_while_blocked(self) -> None:
        while self._blocked() and not self.stopped:
            self._wake.clear()
            await self._wake.wait()

    async def next(self) -> LLMRequest | None:
        """The next request to send, or None at the end of the stream (or once stopped)."""
        await self._wait_while_blocked()
        while not self.stopped:
            request = await self._queue.get()
            if request is None:
                self._queue.put_nowait(None)  # the end, for every other task taking too
                return None
            await self._wait_while_blocked()  # paused while waiting for it
            if self.stopped:
                self.on_drop(request)
                break
            self.out += 1
            return request
        self._drop_queued()
        self._queue.put_nowait(None)
        return None

    def waiting(self) -> int:
        """Requests that could be handed over now: 0 while paused or at the limit (a backend
        holding answers back, such as the HTTP backend's answer guard, must then treat itself
        as idle and pass them on, or nothing would ever come back to lower ``out``)."""
        if self._blocked():
            return 0
        return max(0, self._queue.qsize() - self.closed)  # (the end marker is no request)

    def _drop_queued(self) -> None:
        while not self._queue.empty():
            request = self._queue.get_nowait()
            if request is not None:
                self.on_drop(request)

    def iterate(self, first: LLMRequest | None = None) -> "StreamRequests":
        """The requests, for ``backend.generate()`` (``first``: one already taken)."""
        return StreamRequests(self, first)


class StreamRequests:
    """A :class:`RequestStream` as the backend reads it: ``async for``, or ``take()`` from
    several tasks at once.

    Args:
        stream: the stream.
        first: a request already taken from it (handed over first).
    """

    def __init__(self, stream: RequestStream, first: LLMRequest | None = None):
        self._stream = stream
        self._first = first

    def __aiter__(self) -> "StreamRequests":
        return self

    async def __anext__(self) -> LLMRequest:
        request = await self.take()
        if request is None:
            raise StopAsyncIteration
        return request

    async def take(self) -> LLMRequest | None:
        """The next request, or None at the end (every task taking gets None then)."""
        if self._first is not None:
            request, self._first = self._first, None
            return request
        return await self._stream.next()

    def waiting(self) -> int:
        """Requests that could be taken now (0: a backend may treat itself as idle)."""
        return self._stream.waiting() + (self._first is not None)


@dataclass(slots=True)
class WorkerFeed:
    """How a backend's concurrent workers take requests from what ``generate()`` was given.

    Attributes:
        take: the next request, or None at the end (safe to await from every worker).
        waiting: requests ready behind it (0: the backend may treat itself as idle).
        helpers: coroutines to run as tasks beside the workers (the pump, if any).
    """

    take: Callable[[], Awaitable[LLMRequest | None]]
    waiting: Callable[[], int]
    helpers: list[Coroutine[Any, Any, None]]

    @classmethod
    def of(cls, requests: AsyncIterable[LLMRequest], workers: int) -> "WorkerFeed":
        """Directly from a :class:`StreamRequests`; any other iterable is read by one pump
        task that fills a queue in bursts (it pauses once ``2 × workers`` requests wait and
        resumes when the workers have taken half of them) instead of being woken once per
        request."""
        if isinstance(requests, StreamRequests):
            return cls(requests.take, requests.waiting, [])
        inbox: asyncio.Queue[LLMRequest | None] = asyncio.Queue()
        room = asyncio.Event()

        async def pump() -> None:
            try:
                async for request in requests:
                    inbox.put_nowait(request)
                    if inbox.qsize() >= 2 * workers:
                        room.clear()
                        await room.wait()
            finally:
                for _ in range(workers):
                    inbox.put_nowait(None)

        async def take() -> LLMRequest | None:
            request = await inbox.get()
            if inbox.qsize() <= workers:
                room.set()
            return request

        return cls(take, inbox.qsize, [pump()])
