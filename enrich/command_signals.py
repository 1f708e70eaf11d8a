"""The ``enrich`` command's handler for the stop signals outside a run (:class:`CommandSignals`).

Kept apart from :mod:`enrich.run_control` so that every command can install it without
importing asyncio.
"""

import contextlib
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class CommandSignals:
    """The ``enrich`` command's Ctrl-C / SIGTERM / SIGHUP handler outside a run: counts the
    signal and raises ``KeyboardInterrupt`` (a clean stop, exit 130).

    The count is what survives when a library swallows the ``KeyboardInterrupt``: DuckDB turns
    one that arrives during a query into ``RuntimeError("Query interrupted")`` (the command then
    reports an interruption, not an internal error), and :class:`StopSignals` stops the run at
    once if a signal was counted before it took over.
    """

    def __init__(self) -> None:
        self.received = 0

    def __call__(self, signum: int, frame: object) -> None:
        self.received += 1
        raise KeyboardInterrupt

    def install(self) -> None:
        """Handle the stop signals (a no-op off the main thread)."""
        with contextlib.suppress(ValueError):
            for signum in STOP_SIGNALS:
                signal.signal(signum, self)
