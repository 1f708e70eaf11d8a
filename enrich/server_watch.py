"""Server death is not row death: tells a server that stopped answering from rows that fail.

When a request fails to connect or times out (after the backend's own retries), the watch holds
that result back and probes the server once (``GET {base_url}/models``; any HTTP answer counts
as alive):

- the server answers: the failure was the row's own; it is recorded as usual;
- it does not: the run **pauses** (nothing new is sent), every connection or timeout failure
  that comes back meanwhile is held too, and the server is probed again with backoff
  (0.5, 1, 2, 4, 8, 10, 10, ... s). When it answers again, or any request succeeds, the held
  requests are sent again and the run goes on. When it has not answered for ``wait_s``
  (``backend.server_wait_s``, default 60 s), the run stops as interrupted: the held rows stay
  pending (they are not stored as failures) and the same command resumes them.

The runner wires it up through three callbacks (pause, resume with the held requests, gone)
and :meth:`ServerWatch.record`, which stores a held result as an ordinary failure.

Example:
    >>> watch = ServerWatch(url, http_probe(url), 60.0, runner_callbacks)   # doctest: +SKIP
    >>> if not watch.hold(result): runner.handle(result)                    # doctest: +SKIP
"""

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from enrich.backends.base import LLMRequest, LLMResult

SERVER_DOWN_KINDS = frozenset({"connection", "timeout"})
_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 10.0)

Probe = Callable[[], Awaitable[bool]]


def http_probe(base_url: str, timeout_s: float = 5.0) -> Probe:
    """A probe of an OpenAI-compatible server: True when ``GET {base_url}/models`` gets any
    HTTP answer within ``timeout_s`` (a fresh connection, not the backend's pool)."""

    async def probe() -> bool:
        import aiohttp

        try:
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=timeout_s)) as session, \
                    session.get(f"{base_url.rstrip('/')}/models") as response:
                await response.read()
                return True
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return False

    return probe


def probe_for(backend: object) -> Probe | None:
    """How to probe ``backend``'s server: its own ``probe()`` coroutine if it has one, else
    ``GET {url}/models`` for a backend with an HTTP ``url``; None for in-process backends."""
    own = getattr(backend, "probe", None)
    if callable(own):
        return own  # type: ignore[no-any-return]
    url = getattr(backend, "url", None)
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return http_probe(url)
    return None


@dataclass
class WatchCallbacks:
    """What the watch asks of the runner."""

    pause: Callable[[], object]
    resume: Callable[[list[LLMRequest]], object]  # send these again
    record: Callable[[LLMResult], object]  # store as an ordinary row failure
    gone: Callable[[str], object]  # the server did not come back (why)


class ServerWatch:
    """Watches one run's server (see the module docstring).

    Args:
        url: the server's address (for messages).
        probe: returns True when the server answers.
        wait_s: how long to wait for a server that stopped answering.
        callbacks: the runner's side.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, url: str, probe: Probe, wait_s: float, callbacks: WatchCallbacks,
                 clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.probe = probe
        self.wait_s = wait_s
        self.callbacks = callbacks
        self.clock = clock
        self.held: list[LLMResult] = []
        self.down_since: float | None = None
        self.next_probe_at: float | None = None
        self.last_error = ""
        self.gave_up = False
        self._task: asyncio.Task[None] | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def hold(self, result: LLMResult) -> bool:
        """Keep a failed result back while the server is checked; True if held."""
        if result.ok or result.error_kind not in SERVER_DOWN_KINDS:
            return False
        self.held.append(result)
        self.last_error = result.error or result.error_kind or ""
        if self._task is None and not self.gave_up:
            self._task = asyncio.create_task(self._check(), name="enrich-server-watch")
        return True

    def success(self) -> None:
        """A request was answered: a server that was down is back."""
        if self.down:
            self._back()

    def note(self) -> str | None:
        """What the progress line says while the server is down."""
        if self.down_since is None:
            return None
        left = max(0.0, self.down_since + self.wait_s - self.clock())
        return (f"server not answering ({self.last_error[:60]}); {len(self.held)} requests "
                f"held; stopping in {left:.0f} s unless it comes back")

    async def close(self) -> None:
        """Stop watching (the run ends): held results are dropped (they stay pending)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        self.held.clear()

    async def _check(self) -> None:
        try:
            if await self.probe():  # the server is fine: these failures are the rows' own
                held, self.held = self.held, []
                for result in held:
                    self.callbacks.record(result)
                return
            await self._wait_until_back()
        finally:
            if asyncio.current_task() is self._task:
                self._task = None

    async def _wait_until_back(self) -> None:
        self.down_since = self.clock()
        self.callbacks.pause()
        for attempt in itertools.count():
            left = self.down_since + self.wait_s - self.clock()
            if left <= 0:
                break
            delay = min(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)], left)
            self.next_probe_at = self.clock() + delay
            await asyncio.sleep(delay)
            if await self.probe():
                self._back()
                return
        self.gave_up = True
        self.callbacks.gone(f"no answer for {self.wait_s:g} s: {self.last_error[:200]}")

    def _back(self) -> None:
        self.down_since = self.next_probe_at = None
        held, self.held = self.held, []
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.callbacks.resume([result.request for result in held])



def watch_for(backend: object, wait_s: float, callbacks: WatchCallbacks) -> ServerWatch | None:
    """A watch over ``backend``'s server, or None for a backend with no server to probe."""
    probe = probe_for(backend)
    if probe is None:
        return None
    return ServerWatch(str(getattr(backend, "url", "?")), probe, wait_s, callbacks)
