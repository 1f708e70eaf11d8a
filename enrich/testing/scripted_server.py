"""A tiny OpenAI-compatible server whose chat answers come from a function (for tests).

Where the fake server answers like a well-behaved server with injected faults, this one sends
exactly the bytes a test scripts: an HTML login page on HTTP 200, an event stream, a 429 with an
``insufficient_quota`` body, a completion in the completions-API shape... Runs in the current
event loop::

    def reply(n: int, body: dict) -> Reply:
        return Reply(body="<html><title>Sign in</title></html>", content_type="text/html")

    async with ScriptedServer(reply) as server:
        backend = OpenAICompatibleBackend(BackendSpec(kind="openai", base_url=server.url,
                                                      model="test-model", server="vllm"), 2)
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Reply:
    """One scripted HTTP answer (``body``: bytes, text, or a value sent as JSON)."""

    body: Any = b""
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        raw = self.body if isinstance(self.body, bytes) else (
            self.body.encode() if isinstance(self.body, str) else orjson.dumps(self.body))
        return web.Response(body=raw, status=self.status, content_type=self.content_type,
                            headers=self.headers)


def completion(content: Any, **extra: Any) -> dict[str, Any]:
    """A chat-completion body with ``content`` (any JSON value) and optional top-level extras."""
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}, **extra}


class ScriptedServer:
    """Serves ``GET /v1/models`` and answers ``POST /v1/chat/completions`` with ``reply``.

    Args:
        reply: called with (request number from 1, parsed request body); returns the answer.
        models: model ids listed by ``/v1/models``.
        owned_by: the ``owned_by`` of those entries.
        routes: extra GET paths → JSON bodies (e.g. ``{"/version": {"version": "0.11.0"}}``).
    """

    def __init__(self, reply: Callable[[int, dict[str, Any]], Reply],
                 models: tuple[str, ...] = ("test-model",), owned_by: str = "scripted",
                 routes: dict[str, Any] | None = None):
        self.reply = reply
        self.models = models
        self.owned_by = owned_by
        self.routes = routes or {}
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.root_url = ""

    @property
    def url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root_url}/v1"

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "owned_by": self.owned_by} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        return self.reply(len(self.bodies), body).response()

    def _constant(self, value: Any) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(value)

        return handler

    async def __aenter__(self) -> "ScriptedServer":
        app = web.Application(client_max_size=64 << 20)
        app.add_routes([web.get("/v1/models", self._models),
                        web.post("/v1/chat/completions", self._chat)])
        for path, value in self.routes.items():
            app.router.add_get(path, self._constant(value))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.25)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.root_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
