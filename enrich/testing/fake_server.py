"""A fault-injecting OpenAI-compatible chat-completions server for tests and benchmarks.

Answers ``POST /v1/chat/completions`` with JSON that is valid for the request's JSON Schema
(however it was sent: vLLM ``structured_outputs``/``guided_json``, OpenAI ``response_format``
json_schema, llama.cpp json_object + schema), the same answer for the same request key
(``X-Enrich-Key`` header, else a hash of model and messages). Latency, faults (5xx, 429 with
Retry-After, hangs, truncated/invalid/empty/wrong-shape content, connection resets) and
``fail_first_n`` come from ``FakeServerConfig``. ``GET /stats``, ``POST /reset`` and
``GET /bodies`` expose what it saw.

In a test (background thread, its own event loop)::

    with FakeServer(FakeServerConfig(faults=FaultRates(http_500=0.1), seed=1)) as server:
        client_base_url = server.url          # "http://127.0.0.1:PORT/v1"
        ...
        assert server.stats()["requests_total"] == 10

Inside a running event loop: ``async with AsyncFakeServer(config) as server: ...``.

As a process (benchmarks, subprocess tests); prints ``READY http://127.0.0.1:PORT/v1``::

    python -m enrich.testing.fake_server --port 0 --latency-ms 20 --model test-model \\
        --fault http_500=0.1 --fault hang=0.03 --seed 1
"""

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web
from pydantic import ValidationError

from enrich.testing.fake_chat_app import KEY_HEADER, FakeChatCompletionsApp, FakeServerState
from enrich.testing.fake_server_config import FAULT_KINDS, FakeServerConfig, FaultRates

__all__ = [
    "KEY_HEADER",
    "AsyncFakeServer",
    "FakeServer",
    "FakeServerConfig",
    "FakeServerState",
    "FaultRates",
    "main",
]

_T = TypeVar("_T")
_SHUTDOWN_TIMEOUT_S = 0.25


class AsyncFakeServer:
    """The fake server running in the current event loop.

    Args:
        config: how to answer; defaults to ``FakeServerConfig()`` (one model, no faults).
        host: interface to listen on.
        port: TCP port; 0 picks a free one (read it back from ``port`` or ``url``).

    Example:
        >>> async def demo() -> None:
        ...     async with AsyncFakeServer(FakeServerConfig(latency_ms=5)) as server:
        ...         print(server.url)
    """

    def __init__(
        self, config: FakeServerConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or FakeServerConfig()
        self.host = host
        self.port = port
        self.app = FakeChatCompletionsApp(self.config)
        self._runner: web.AppRunner | None = None

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` (where /stats, /reset and /bodies live)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI base URL, ``http://HOST:PORT/v1``."""
        return f"{self.root_url}/v1"

    async def start(self) -> None:
        """Start listening; afterwards ``port`` holds the real port."""
        runner = web.AppRunner(
            self.app.build_application(),
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and drop open connections (hanging handlers are cancelled)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def stats(self) -> dict[str, Any]:
        """``{"requests_total", "per_key", "faults", "in_flight"}`` as ``GET /stats`` returns."""
        return self.app.state.snapshot()

    def reset(self) -> None:
        """Clear request counts, fault counts and recorded bodies."""
        self.app.state.reset()

    def bodies(self) -> list[Any]:
        """The last ``config.record_bodies`` request bodies received, oldest first."""
        return list(self.app.state.bodies)

    async def __aenter__(self) -> "AsyncFakeServer":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


class FakeServer:
    """The fake server in a background thread with its own event loop (for sync tests).

    Args:
        config: how to answer; defaults to ``FakeServerConfig()``.
        host: interface to listen on.
        port: TCP port; 0 picks a free one.

    Example:
        >>> with FakeServer(FakeServerConfig(models=["m"])) as server:
        ...     server.url.endswith("/v1")
        True
    """

    def __init__(
        self, config: FakeServerConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._server = AsyncFakeServer(config, host=host, port=port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @property
    def config(self) -> FakeServerConfig:
        return self._server.config

    @property
    def url(self) -> str:
        """The OpenAI base URL, ``http://HOST:PORT/v1``."""
        return self._server.url

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT``."""
        return self._server.root_url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the thread and wait until the server listens (or raise its startup error)."""
        if self._thread is not None:
            raise RuntimeError("this FakeServer is already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="enrich-fake-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"the fake server did not start within {timeout_s} s")
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server and its thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)

    def stats(self) -> dict[str, Any]:
        """``{"requests_total", "per_key", "faults", "in_flight"}`` (read in the server loop)."""
        return self._call_in_loop(self._server.stats)

    def reset(self) -> None:
        """Clear request counts, fault counts and recorded bodies."""
        self._call_in_loop(self._server.reset)

    def bodies(self) -> list[Any]:
        """The last ``config.record_bodies`` request bodies received, oldest first."""
        return self._call_in_loop(self._server.bodies)

    def __enter__(self) -> "FakeServer":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _call_in_loop(self, function: Callable[[], _T]) -> _T:
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the fake server is not running")

        async def call() -> _T:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._server.start())
        except BaseException as error:  # reported to the thread that called start()
            self._startup_error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
            loop.run_until_complete(self._server.stop())
        finally:
            _cancel_remaining_tasks(loop)
            loop.close()


def _cancel_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


# -- command line ------------------------------------------------------------------------------


def _parse_fault(text: str) -> tuple[str, float]:
    kind, separator, rate = text.partition("=")
    if not separator or kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(
            f"expected KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}; got {text!r}"
        )
    try:
        return kind, float(rate)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"rate must be a number in [0, 1]: {text!r}") from error


def _argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m enrich.testing.fake_server",
        description="Fault-injecting OpenAI-compatible chat-completions server. Prints "
        "'READY <base url>' once listening; stops on SIGTERM or SIGINT.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--model", action="append", dest="models", metavar="NAME",
                        help="served model name (repeatable; default test-model)")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--latency-jitter-ms", type=float, default=0.0)
    parser.add_argument("--fault", action="append", type=_parse_fault, default=[],
                        metavar="KIND=RATE", help=f"repeatable; KIND in {', '.join(FAULT_KINDS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retry-after-s", type=float, default=1.0)
    parser.add_argument("--hang-s", type=float, default=30.0)
    parser.add_argument("--fail-first-n", type=int, default=0)
    parser.add_argument("--record-bodies", type=int, default=0)
    parser.add_argument("--dialect", default="any", help="behave like: any, vllm, "
                        "llama-cpp-python, llama-server, openai")
    parser.add_argument("--server-version", default="0.11.0", help="vLLM version reported")
    return parser


def config_from_arguments(arguments: argparse.Namespace) -> FakeServerConfig:
    """Build the ``FakeServerConfig`` described by parsed command-line arguments."""
    return FakeServerConfig(
        models=arguments.models or ["test-model"],
        api_key=arguments.api_key,
        latency_ms=arguments.latency_ms,
        latency_jitter_ms=arguments.latency_jitter_ms,
        seed=arguments.seed,
        faults=FaultRates(**dict(arguments.fault)),
        retry_after_s=arguments.retry_after_s,
        hang_s=arguments.hang_s,
        fail_first_n=arguments.fail_first_n,
        record_bodies=arguments.record_bodies,
        dialect=arguments.dialect,
        server_version=arguments.server_version,
    )


async def _serve_until_signalled(config: FakeServerConfig, host: str, port: int) -> None:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop_requested.set)
    async with AsyncFakeServer(config, host=host, port=port) as server:
        print(f"READY {server.url}", flush=True)
        await stop_requested.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake server until SIGTERM/SIGINT; returns the process exit code."""
    parser = _argument_parser()
    arguments = parser.parse_args(argv)
    try:
        config = config_from_arguments(arguments)
    except ValidationError as error:
        parser.error(f"invalid server configuration:\n{error}")
    try:
        asyncio.run(_serve_until_signalled(config, arguments.host, arguments.port))
    except OSError as error:
        print(f"error: cannot listen on {arguments.host}:{arguments.port}: {error}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
