"""TaskWatch: a task that dies with an exception nobody collects is reported; others are not,
and a task that ends normally costs no timer (it is on the path of every HTTP request)."""

import asyncio

import pytest

from enrich.run_control import TaskWatch


async def _boom() -> None:
    raise ValueError("boom")


async def _fine() -> int:
    return 1


def _run(body):  # type: ignore[no-untyped-def]
    died: list[tuple[str, str]] = []

    async def main() -> None:
        watch = TaskWatch(lambda name, exc: died.append((name, str(exc))))
        watch.install()
        try:
            await body()
            await asyncio.sleep(0.7)  # past the half-second check
        finally:
            watch.remove()

    asyncio.run(main())
    return died


def test_an_uncollected_exception_is_reported() -> None:
    async def body() -> None:
        asyncio.create_task(_boom(), name="lost")
        await asyncio.sleep(0)

    assert _run(body) == [("lost", "boom")]


def test_an_exception_its_creator_awaits_is_not_reported() -> None:
    async def body() -> None:
        task = asyncio.create_task(_boom())
        await asyncio.sleep(0.1)
        try:
            await task
        except ValueError:
            pass

    assert _run(body) == []


def test_tasks_that_end_normally_schedule_no_timer() -> None:
    timers: list[int] = []

    async def body() -> None:
        loop = asyncio.get_running_loop()
        before = len(loop._scheduled)  # type: ignore[attr-defined]
        tasks = [asyncio.create_task(_fine()) for _ in range(200)]
        await asyncio.gather(*tasks)
        await asyncio.sleep(0)
        timers.append(len(loop._scheduled) - before)  # type: ignore[attr-defined]

    assert _run(body) == []
    assert timers == [0]


def test_a_signal_during_install_still_reaches_the_loop() -> None:
    """A signal that arrives between two handler installations is not lost."""
    import signal

    from enrich.run_control import StopSignals

    called: list[str] = []

    async def main() -> None:
        stops = StopSignals(lambda: called.append("first"), lambda: called.append("again"))
        real = signal.signal

        def install_then_signal(signum: int, handler: object) -> object:
            previous = real(signum, handler)  # type: ignore[arg-type]
            if signum == signal.SIGINT and handler == stops._on_signal:
                stops._on_signal(signal.SIGINT, None)  # arrives before the others are in place
            return previous

        signal.signal = install_then_signal  # type: ignore[assignment]
        try:
            stops.install()
        finally:
            signal.signal = real
        await asyncio.sleep(0)
        stops.remove()

    asyncio.run(main())
    assert called == ["first"]


def test_a_signal_the_command_counted_before_the_run_stops_it_at_once() -> None:
    """DuckDB may swallow the KeyboardInterrupt of a Ctrl-C that arrives during a query; the
    command's handler has counted it, and the run's handler takes the count over."""
    import signal

    from enrich.command_signals import CommandSignals
    from enrich.run_control import StopSignals

    command = CommandSignals()
    previous = signal.getsignal(signal.SIGINT)
    command.install()
    try:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass  # (as a library that turns it into its own error and goes on would)
        assert command.received == 1
        called: list[str] = []

        async def main() -> int:
            stops = StopSignals(lambda: called.append("first"), lambda: called.append("again"))
            stops.install()
            await asyncio.sleep(0)
            stops.remove()
            return stops.received

        assert asyncio.run(main()) == 1 and called == ["first"]
        assert signal.getsignal(signal.SIGINT) is command  # the run gave it back
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, previous if signum == signal.SIGINT else signal.SIG_DFL)


def test_the_command_reports_an_interruption_a_library_turned_into_an_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    from enrich import cli

    def app(**_: object) -> int:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:  # what DuckDB does with a Ctrl-C during a query
            raise RuntimeError("Query interrupted") from None
        return 0

    previous = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    monkeypatch.setattr(cli, "app", app)
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.main()
    finally:
        for signum, handler in zip((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), previous,
                                   strict=True):
            signal.signal(signum, handler)
    assert exit_.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "internal error" not in err
