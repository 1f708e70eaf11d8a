"""A run's backend: made and started only when the first request must be sent, its server
watched while the run goes on, and closed without holding up (or crashing) the exit.

Example:
    >>> session = BackendSession(factory, requests, server_wait_s=60, on_failure=handle,
    ...                          on_gone=stop, console=None)                # doctest: +SKIP
    >>> backend = await session.start()                                     # doctest: +SKIP
"""

from collections.abc import Callable
from typing import cast

from rich.console import Console

from enrich.backends.base import Backend, LLMRequest, LLMResult
from enrich.request_stream import RequestStream
from enrich.run_control import within
from enrich.server_watch import ServerWatch, WatchCallbacks, watch_for

BackendFactory = Callable[[], Backend]


class BackendSession:
    """The backend of one run.

    Args:
        backend: a backend, not yet started, or a function that makes one (called only when
            the first request has to be sent).
        requests: the run's request stream (gated to the backend's concurrency, paused while
            its server is down).
        server_wait_s: how long to wait for a server that stopped answering.
        on_failure: records a held result as an ordinary row failure.
        on_gone: called with the reason when the server did not come back.
        console: where to say that the server is back (None: silent).
    """

    def __init__(self, backend: Backend | BackendFactory, requests: RequestStream,
                 server_wait_s: float, on_failure: Callable[[LLMResult], object],
                 on_gone: Callable[[str], object], console: Console | None):
        self.backend: Backend | None = None
        self._make: BackendFactory | None = None
        if callable(getattr(backend, "generate", None)):
            self.backend = cast(Backend, backend)
        else:
            self._make = cast(BackendFactory, backend)
        self.requests = requests
        self.server_wait_s = server_wait_s
        self.on_failure = on_failure
        self.on_gone = on_gone
        self.console = console
        self.watch: ServerWatch | None = None
        self.gone: str | None = None  # why the server is considered gone

    async def start(self) -> Backend:
        """Make (if needed) and start the backend; gate and watch it."""
        if self.backend is None:
            assert self._make is not None
            self.backend = self._make()
        await self.backend.start()
        if getattr(self.backend, "kind", "") == "openai":  # it sends whatever it takes at once
            self.requests.limit = getattr(self.backend, "concurrency", None)
        self.watch = watch_for(self.backend, self.server_wait_s, WatchCallbacks(
            self.requests.pause, self._server_back, self.on_failure, self._server_gone))
        return self.backend

    def note(self) -> str | None:
        """What the run waits for: a server that stopped answering, or the backend's own
        ``status_note`` (e.g. "waiting 42 s (Retry-After)")."""
        note = self.watch.note() if self.watch is not None else None
        return note or getattr(self.backend, "status_note", None)

    def in_process(self) -> bool:
        return getattr(self.backend, "url", None) is None

    async def stop_watching(self) -> None:
        if self.watch is not None:
            await self.watch.close()

    def abort(self) -> None:
        """Ask the backend to stop what it is generating, if it can (llama.cpp in process:
        its thread returns at the next token, so the process can exit)."""
        abort = getattr(self.backend, "abort", None)
        if abort is not None:
            abort()

    async def close(self, abandoned: bool) -> None:
        """Close the backend, waiting 2 s at most. ``abandoned``: a request the stop dropped
        may still be generating in one of its threads; an in-process backend is then left to
        the process exit (closing its model under that thread would crash it)."""
        if self.backend is not None and not (abandoned and self.in_process()):
            await within(self.backend.close(), 2.0)

    def _server_back(self, held: list[LLMRequest]) -> None:
        for request in held:
            self.requests.put(request)
        self.requests.resume()
        if self.console is not None and self.watch is not None:
            self.console.print(f"[green]The server at {self.watch.url} answers again: "
                               f"resuming ({len(held)} requests sent again)")

    def _server_gone(self, reason: str) -> None:
        self.gone = reason
        self.on_gone(reason)
