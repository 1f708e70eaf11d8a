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
"""

import asyncio
from collections.abc import AsyncIterator, Callable

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
                return None
            await self._wait_while_blocked()  # paused while waiting for it
            if self.stopped:
                self.on_drop(request)
                break
            self.out += 1
            return request
        self._drop_queued()
        return None

    def _drop_queued(self) -> None:
        while not self._queue.empty():
            request = self._queue.get_nowait()
            if request is not None:
                self.on_drop(request)

    async def iterate(self, first: LLMRequest | None = None) -> AsyncIterator[LLMRequest]:
        """The requests, for ``backend.generate()`` (``first``: one already taken)."""
        request = first if first is not None else await self.next()
        while request is not None:
            yield request
            request = await self.next()
