"""Run a blocking call in a daemon thread and await its result without ever joining it.

``asyncio.to_thread`` uses the loop's default executor, and ``asyncio.run()`` joins that
executor when it returns (``shutdown_default_executor``), as does the interpreter at exit: a
batch that runs for minutes on a GPU would keep a stopped process alive for minutes. A daemon
thread is never joined. When the awaiting task is cancelled (a second Ctrl-C, an error
elsewhere), the call keeps running in its thread and its result is thrown away; the process can
exit at once.

Example:
    >>> import asyncio
    >>> asyncio.run(run_in_daemon_thread(sum, [1, 2, 3]))
    6
"""

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def run_in_daemon_thread(fn: Callable[..., T], *args: Any,
                               name: str = "enrich-worker") -> T:
    """``fn(*args)`` in a new daemon thread; returns (or raises) what it does.

    Args:
        fn: the blocking function.
        *args: its arguments.
        name: the thread's name (shows in stack dumps).

    Returns:
        ``fn``'s result.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def target() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            error = exc
        try:
            loop.call_soon_threadsafe(_settle, future, result, error)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for this result any more

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future
