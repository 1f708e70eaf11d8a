"""The in-repository test server as the benchmark runs it: one process for the whole run.

``python -m bench.test_server --latency-ms 20`` serves ``enrich.testing``'s fake
OpenAI-compatible app (the same handlers as ``python -m enrich.testing.fake_server``) with two
benchmark settings: answers are cached per request key for the whole run (so every client,
in every round, costs the server the same once a warm-up has generated them), and
``GET /bench/count`` returns the request count without the per-key table that ``/stats``
serialises (which grows to 100,000 keys in the scale runs). Prints ``READY <base url>``.
"""

import argparse
import asyncio
import signal

import orjson
from aiohttp import web

from enrich.testing.fake_chat_app import FakeChatCompletionsApp
from enrich.testing.fake_server_config import FakeServerConfig


async def _serve(config: FakeServerConfig, port: int) -> None:
    chat = FakeChatCompletionsApp(config)
    app = chat.build_application()

    async def count(request: web.Request) -> web.Response:
        state = chat.state
        return web.Response(body=orjson.dumps({"requests_total": state.requests_total,
                                                "in_flight": state.in_flight}),
                            content_type="application/json")

    app.router.add_get("/bench/count", count)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    print(f"READY http://127.0.0.1:{runner.addresses[0][1]}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.test_server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--model", default="test-model")
    parser.add_argument("--answer-cache", type=int, default=250_000,
                        help="answers kept per request key (the fake server's default: 10,000)")
    args = parser.parse_args()
    config = FakeServerConfig(models=[args.model], latency_ms=args.latency_ms,
                              content_cache_size=args.answer_cache)
    asyncio.run(_serve(config, args.port))


if __name__ == "__main__":
    main()
