"""TaskWatch: a task that dies with an exception nobody collects is reported; others are not,
and a task that ends normally costs no timer (it is on the path of every HTTP request)."""

import asyncio

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
