"""How a run is stopped: by the user (Ctrl-C, SIGTERM) or by a server that rejects every request.

- :class:`StopSignals`: the first Ctrl-C or SIGTERM stops sending new requests and lets the ones
  in flight finish and be stored, so nothing that was paid for is lost; a second Ctrl-C stops
  at once (what is in flight is then sent again on resume).
- :class:`RejectionGuard`: when the first requests of a run are all rejected as malformed
  (HTTP 400: a parameter or schema the server does not accept), the job is wrong, not the rows.
  The guard holds those failures back and stops the run with the server's message, instead of
  recording every row of the source as failed.
"""

import asyncio
import signal
from collections.abc import Callable
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Ctrl-C / SIGTERM handlers for the duration of a run (a no-op off the main thread).

    Args:
        on_first: called on the first signal (stop sending, drain what is in flight).
        on_again: called on a second Ctrl-C (stop now).
    """

    def __init__(self, on_first: Callable[[], object], on_again: Callable[[], object]):
        self.on_first = on_first
        self.on_again = on_again
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int) -> None:
        self.received += 1
        if self.received == 1:
            self.on_first()
        elif signum == signal.SIGINT:
            self.on_again()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for signum in _SIGNALS:
                self._previous[signum] = signal.getsignal(signum)
                loop.add_signal_handler(signum, self._handle, signum)
        except (NotImplementedError, RuntimeError, ValueError):
            return  # not the main thread or not supported: Ctrl-C raises as usual
        self._loop = loop

    def remove(self) -> None:
        if self._loop is None:
            return
        for signum in _SIGNALS:
            try:
                self._loop.remove_signal_handler(signum)
                previous = self._previous.get(signum)
                if previous is not None:  # asyncio would leave SIG_DFL: restore the caller's
                    signal.signal(signum, previous)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        self._loop = None


class RejectionGuard:
    """Holds back the failures of a run's first requests while the server rejects them all.

    Args:
        limit: rejected requests (HTTP 400, ``bad_request``) in a row, with none accepted
            before, after which the run stops.

    Example:
        >>> guard = RejectionGuard(limit=2)
        >>> guard.hold("bad_request", "HTTP 400: no", [("row",)]), guard.tripped
        (True, False)
        >>> guard.hold("bad_request", "HTTP 400: no", [("row2",)]), guard.tripped
        (True, True)
    """

    def __init__(self, limit: int = 10):
        self.limit = limit
        self.active = True
        self.rejected = 0
        self.first_error = ""
        self.held: list[tuple[Any, ...]] = []

    def hold(self, kind: str, error: str, records: list[tuple[Any, ...]]) -> bool:
        """Keep ``records`` back when they are a rejection while guarding; True if kept."""
        if not self.active or kind != "bad_request":
            return False
        self.rejected += 1
        self.first_error = self.first_error or error
        self.held.extend(records)
        return True

    @property
    def tripped(self) -> bool:
        """The first ``limit`` requests were all rejected: the job, not the rows, is wrong."""
        return self.active and self.rejected >= self.limit

    def release(self) -> list[tuple[Any, ...]]:
        """The server accepted a request (or the run ended): stop guarding, return what was
        held so it is stored as ordinary row failures."""
        self.active = False
        held, self.held = self.held, []
        return held
