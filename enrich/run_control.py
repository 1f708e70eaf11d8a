"""How a run is stopped: by the user (Ctrl-C, SIGTERM, SIGHUP), by a server that rejects every
request, or by a backend task that died.

- :class:`StopSignals`: the first Ctrl-C, SIGTERM or SIGHUP stops sending new requests and gives
  the ones in flight a short grace period to finish and be stored (the runner then drops the
  rest: they stay pending); a second signal stops at once.
- :class:`RejectionGuard`: when the first requests of a run are all rejected as malformed
  (HTTP 400: a parameter or schema the server does not accept), the job is wrong, not the rows.
  The guard holds those failures back and stops the run with the server's message, instead of
  recording every row of the source as failed.
- :class:`TaskWatch`: notices a task that ended with an exception nobody collected (a backend
  worker that raised leaves its request without an answer, and the run would wait for ever).
- :func:`until_done` and :func:`within`: waits that a stop, or a backend that never answers,
  cannot stretch.
"""

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from enrich.command_signals import STOP_SIGNALS as _SIGNALS
from enrich.command_signals import CommandSignals
from enrich.errors import BackendError

if TYPE_CHECKING:
    from enrich.store.pending import FailureRow


class StopSignals:
    """Ctrl-C / SIGTERM / SIGHUP handlers for the duration of a run (a no-op off the main
    thread).

    The handlers are plain ``signal.signal`` handlers: they run between two bytecodes of the
    main thread even while it renders a slow template, set :attr:`received` at once (code that
    loops can poll it) and hand the callbacks to the event loop.

    Args:
        on_first: called on the first signal (stop sending, drain what is in flight).
        on_again: called on a second signal (stop now).
    """

    def __init__(self, on_first: Callable[[], object], on_again: Callable[[], object]):
        self.on_first = on_first
        self.on_again = on_again
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, frame: object) -> None:
        self.received += 1
        callback = self.on_first if self.received == 1 else self.on_again
        if self._loop is not None:
            self._loop.call_soon_threadsafe(callback)

    def install(self) -> None:
        # the loop is known before the first handler is in place: a signal that arrives while
        # the handlers are being installed must still schedule its callback (it was counted
        # but lost, and the run went on to the end)
        self._loop = asyncio.get_running_loop()
        try:
            for signum in _SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        except ValueError:  # not the main thread: Ctrl-C raises as usual
            self._restore()
            self._loop = None
            return
        # a signal the command's handler counted, whose KeyboardInterrupt a library swallowed
        if not self.received and any(isinstance(handler, CommandSignals) and handler.received
                                     for handler in self._previous.values()):
            self.received = 1
            self._loop.call_soon(self.on_first)

    def remove(self) -> None:
        self._restore()
        self._loop = None

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, previous)
        self._previous.clear()


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
        self.held: list[FailureRow] = []

    def hold(self, kind: str, error: str, records: list["FailureRow"]) -> bool:
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

    def error(self) -> BackendError:
        """What stops the run once :attr:`tripped`."""
        return BackendError(f"the server rejected the first {self.rejected} requests "
                            f"({self.first_error})", "fix the job's parameters or schema (or "
                            "the server), then run again; nothing was stored for those rows")

    def release(self) -> list["FailureRow"]:
        """The server accepted a request (or the run ended): stop guarding, return what was
        held so it is stored as ordinary row failures."""
        self.active = False
        held, self.held = self.held, []
        return held


class TaskWatch:
    """Records tasks created during a run that end with an exception nobody collected.

    Installed as the event loop's task factory for the duration of the run; each task it makes
    is checked half a second after it ends, so an exception its creator awaits and handles is
    not reported.

    Args:
        on_died: called with (task name, exception) for such a task.
        ignore: tasks whose errors the caller handles itself.
    """

    def __init__(self, on_died: Callable[[str, BaseException], object],
                 ignore: set[asyncio.Task[Any]] | None = None):
        self.on_died = on_died
        self.ignore = ignore if ignore is not None else set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop, self._previous = loop, loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop,
                    coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
                    **kwargs: Any) -> asyncio.Task[Any]:
            task: asyncio.Task[Any] = (asyncio.Task(coro, loop=loop, **kwargs)
                                       if self._previous is None
                                       else self._previous(loop, coro, **kwargs))
            task.add_done_callback(self._ended)
            return task

        loop.set_task_factory(factory)

    def remove(self) -> None:
        if self._loop is not None:
            self._loop.set_task_factory(self._previous)
            self._loop = None

    def _ended(self, task: asyncio.Task[Any]) -> None:
        # Only a task that ended with an exception nobody has retrieved yet is checked again
        # later: every HTTP request makes a task (aiohttp's body writer), and a timer per task
        # cost about 10 µs per row at 5,000 rows/s (bench/PROFILE.md).
        if (self._loop is not None and getattr(task, "_log_traceback", False)
                and task not in self.ignore):
            self._loop.call_later(0.5, self._check, task)

    def _check(self, task: asyncio.Task[Any]) -> None:
        # asyncio's own flag for "exception never retrieved" (what it logs at garbage collection)
        if self._loop is not None and getattr(task, "_log_traceback", False):
            error = task.exception()  # (this marks it retrieved)
            if error is not None:
                self.on_died(task.get_name(), error)


async def until_done(worker: "asyncio.Task[Any]", stop: asyncio.Event, grace_s: float) -> None:
    """Wait for ``worker``; once ``stop`` is set, at most ``grace_s`` more, then cancel it
    (what it had in flight is dropped) and wait at most one more second for it to end.

    Raises:
        BaseException: whatever ``worker`` raised (not its cancellation).
    """
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not worker.done():
            await asyncio.wait({worker}, timeout=grace_s)
        if not worker.done():
            worker.cancel()
            await asyncio.wait({worker}, timeout=1.0)
    finally:
        stopping.cancel()
    if worker.done() and not worker.cancelled() and worker.exception() is not None:
        raise worker.exception()  # type: ignore[misc]


async def within(awaitable: Awaitable[Any], seconds: float) -> None:
    """Await ``awaitable`` for at most ``seconds`` (a backend's clean-up must not hold up the
    exit); an error in it is ignored."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            task.result()
    else:
        task.cancel()
