"""Gathering the runner's requests into chunks for a batch engine, and sorting its errors.

The runner's request stream is an async generator that waits on a queue. Two rules follow:

- a pull (``__anext__``) must never be cancelled: a ``CancelledError`` raised inside the
  generator ends it, and with it the run. :class:`RequestPuller` keeps at most one pull in
  flight and, on a timeout, leaves it running for the next call;
- the stream ends only once every request handed out is answered, so a chunk must not wait
  for the end of the stream, nor for a full chunk: :func:`collect_chunk` returns when the chunk
  is full, when no request has come for ``quiet_s``, or ``max_linger_s`` after its first one.
"""

import asyncio
from collections.abc import AsyncIterable
from typing import Any

from enrich.backends.base import LLMRequest

_END = object()


async def _pull(iterator: Any) -> Any:
    return await anext(iterator, _END)


class RequestPuller:
    """Pulls requests one at a time from an async iterable, with timeouts that never cancel
    the pull itself.

    Args:
        requests: the runner's request stream.
    """

    def __init__(self, requests: AsyncIterable[LLMRequest]):
        self._iterator = aiter(requests)
        self._pending: asyncio.Task[Any] | None = None
        self.done = False

    async def next(self, timeout: float | None) -> LLMRequest | None:
        """The next request; None when none came within ``timeout`` seconds (None: wait) or
        the stream is over (then ``done`` is True)."""
        if self.done:
            return None
        if self._pending is None:
            self._pending = asyncio.ensure_future(_pull(self._iterator))
        finished, _ = await asyncio.wait({self._pending}, timeout=timeout)
        if not finished:
            return None
        task, self._pending = self._pending, None
        item = task.result()
        if item is _END:
            self.done = True
            return None
        return item

    def close(self) -> None:
        """Stop pulling (the run is over or being cancelled)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


async def collect_chunk(puller: RequestPuller, size: int, quiet_s: float,
                        max_linger_s: float) -> list[LLMRequest]:
    """The next chunk of requests: waits for a first one, then takes more until ``size`` are
    there, none has come for ``quiet_s``, or ``max_linger_s`` has passed. Empty when the stream
    is over.

    Args:
        puller: the request source.
        size: most requests in a chunk.
        quiet_s: a gap this long between requests closes the chunk.
        max_linger_s: the chunk closes at the latest this long after its first request.
    """
    first = await puller.next(timeout=None)
    if first is None:
        return []
    chunk = [first]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_linger_s
    while len(chunk) < size:
        wait = min(quiet_s, deadline - loop.time())
        if wait <= 0:
            break
        request = await puller.next(timeout=wait)
        if request is None:
            break
        chunk.append(request)
    return chunk


_CLIENT_ERRORS = frozenset({"VLLMClientError", "VLLMValidationError", "ValueError",
                            "TypeError"})


def error_kind(exc: BaseException) -> str:
    """How a vLLM exception is recorded: ``fatal`` when the engine died (the run stops),
    ``bad_request`` when vLLM refused the request (too long, a value it does not accept; a run
    whose first requests are all refused stops with the message), else ``backend_error``.

    Example:
        >>> error_kind(ValueError("prompt too long")), error_kind(RuntimeError("CUDA"))
        ('bad_request', 'backend_error')
    """
    names = {klass.__name__ for klass in type(exc).__mro__}
    if "EngineDeadError" in names:
        return "fatal"
    if names & _CLIENT_ERRORS:
        return "bad_request"
    return "backend_error"
