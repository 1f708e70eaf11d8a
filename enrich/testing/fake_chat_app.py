"""The aiohttp application behind the fake server: request handling, faults and bookkeeping.

Routes: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health``, ``GET /stats``,
``POST /reset``, ``GET /bodies``. See ``enrich.testing.fake_server`` for how to run it.
"""

import asyncio
import itertools
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from enrich.testing.chat_wire import (
    INVALID_JSON_CONTENT,
    MAX_TOP_LOGPROBS,
    build_logprobs,
    chat_completion_body,
    choice_body,
    error_body,
    find_response_schema,
    label_span,
    prompt_token_count,
    request_key,
    split_tokens,
    stable_seed,
    uniform_draw,
)
from enrich.testing.fake_dialects import (
    DialectRejection,
    extra_routes,
    model_owner,
    screen_request,
)
from enrich.testing.fake_server_config import FakeServerConfig
from enrich.testing.sample_values import words_of_length
from enrich.testing.schema_instances import SchemaInstanceError, SchemaInstanceGenerator

KEY_HEADER = "X-Enrich-Key"
_ERROR_STATUS = {"fail_first_n": 500, "http_500": 500, "http_503": 503, "http_429": 429}
_ERROR_TYPE = {500: "InternalServerError", 503: "ServiceUnavailableError", 429: "RateLimitError"}
_CONTENT_FAULTS = frozenset({"truncated_json", "invalid_json", "empty_content", "wrong_shape"})
_GENERATOR_CACHE_SIZE = 256


@dataclass
class FakeServerState:
    """Request counters and recorded bodies; ``snapshot()`` is what ``GET /stats`` returns.

    ``requests_total`` counts every chat-completions request received (rejected ones too);
    ``per_key`` counts the attempts that passed auth and model checks, per request key.
    """

    record_bodies: int = 0
    requests_total: int = 0
    in_flight: int = 0
    per_key: dict[str, int] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    bodies: deque[Any] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.bodies = deque(maxlen=self.record_bodies or None)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "per_key": dict(self.per_key),
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
        }

    def reset(self) -> None:
        """Clear counts and bodies (requests still in flight stay counted as in flight)."""
        self.requests_total = 0
        self.per_key.clear()
        self.faults.clear()
        self.bodies.clear()


class RequestRejected(Exception):
    """A request answered with an OpenAI-style error instead of a completion."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.response = web.Response(
            status=status,
            body=error_body(message, error_type, status),
            content_type="application/json",
        )


class FakeChatCompletionsApp:
    """Handlers of the fake OpenAI-compatible server, with their state.

    Args:
        config: served models, auth, latency and fault rates.

    Example:
        >>> app = FakeChatCompletionsApp(FakeServerConfig()).build_application()
    """

    def __init__(self, config: FakeServerConfig) -> None:
        self.config = config
        self.state = FakeServerState(record_bodies=config.record_bodies)
        self._fault_bounds = config.faults.cumulative()
        self._latency_rng = random.Random(config.seed)
        self._generators: dict[bytes, SchemaInstanceGenerator] = {}
        self._answers: dict[tuple[bytes, str], tuple[str, Any]] = {}
        self._completion_ids = itertools.count(1)
        self._authorization = f"Bearer {config.api_key}" if config.api_key else None
        self._models_body = orjson.dumps({
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0,
                 "owned_by": model_owner(config.dialect)}
                for name in config.models
            ],
        })

    def build_application(self) -> web.Application:
        """Return the aiohttp application serving this app's routes."""
        application = web.Application(client_max_size=64 * 1024 * 1024)
        application.add_routes([
            web.post("/v1/chat/completions", self.chat_completions),
            web.post("/v1/completions", self.completions),
            web.get("/v1/models", self.list_models),
            web.get("/health", self.health),
            web.get("/stats", self.stats),
            web.post("/reset", self.reset),
            web.get("/bodies", self.bodies),
        ])
        for path, payload in extra_routes(self.config.dialect,
                                          self.config.server_version).items():
            application.router.add_get(path, _constant_json(payload))
        return application

    # -- small endpoints ----------------------------------------------------------------------

    async def list_models(self, request: web.Request) -> web.Response:
        try:
            self._check_authorization(request)
        except RequestRejected as rejection:
            return rejection.response
        return web.Response(body=self._models_body, content_type="application/json")

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def completions(self, request: web.Request) -> web.Response:
        """Legacy completions with vLLM's echo + logprobs shape (see fake_completions.py)."""
        from enrich.testing.fake_completions import completion_body

        try:
            self._check_authorization(request)
        except RequestRejected as rejection:
            return rejection.response
        body = orjson.loads(await request.read())
        return _json_response(completion_body(body, str(body.get("model", ""))))

    async def stats(self, request: web.Request) -> web.Response:
        return _json_response(self.state.snapshot())

    async def reset(self, request: web.Request) -> web.Response:
        self.state.reset()
        return _json_response({"reset": True})

    async def bodies(self, request: web.Request) -> web.Response:
        return _json_response(list(self.state.bodies))

    # -- chat completions ---------------------------------------------------------------------

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        state.requests_total += 1
        state.in_flight += 1
        try:
            return await self._handle_chat(request)
        except RequestRejected as rejection:
            return rejection.response
        finally:
            state.in_flight -= 1

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        self._check_authorization(request)
        body = await self._read_body(request)
        model = body.get("model") or self.config.models[0]
        if model not in self.config.models:
            raise RequestRejected(404, f"The model `{model}` does not exist.", "NotFoundError")
        if body.get("stream"):
            raise RequestRejected(400, "stream=true is not supported by the fake server",
                                  "BadRequestError")
        try:
            body = screen_request(self.config.dialect, body, self.config.server_version)
        except DialectRejection as rejection:
            raise RequestRejected(rejection.status, rejection.message,
                                  rejection.error_type) from rejection
        key = request_key(body, request.headers.get(KEY_HEADER))
        attempt = self.state.per_key.get(key, 0) + 1
        self.state.per_key[key] = attempt
        fault = self._choose_fault(key, attempt)
        if fault is not None:
            self.state.faults[fault] += 1
        await self._sleep_latency()
        if fault in _ERROR_STATUS:
            return self._error_response(fault)
        if fault == "connection_reset":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if fault == "hang":
            await asyncio.sleep(self.config.hang_s)
        try:
            payload = self._completion(body, model, key, fault)
        except (TypeError, ValueError) as error:  # e.g. "n": "two"; schema errors are handled
            raise RequestRejected(400, f"bad request parameter: {error}",
                                  "BadRequestError") from error
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    def _check_authorization(self, request: web.Request) -> None:
        if self._authorization and request.headers.get("Authorization") != self._authorization:
            raise RequestRejected(401, "Incorrect API key provided.", "AuthenticationError")

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as error:
            raise RequestRejected(400, f"request body is not JSON: {error}",
                                  "BadRequestError") from error
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise RequestRejected(400, "request body needs a `messages` list", "BadRequestError")
        if self.config.record_bodies:
            self.state.bodies.append(body)
        return body

    def _choose_fault(self, key: str, attempt: int) -> str | None:
        if attempt <= self.config.fail_first_n:
            return "fail_first_n"
        if not self._fault_bounds:
            return None
        draw = uniform_draw(self.config.seed, key, attempt)
        for bound, kind in self._fault_bounds:
            if draw < bound:
                return kind
        return None

    async def _sleep_latency(self) -> None:
        delay_ms = self.config.latency_ms
        jitter_ms = self.config.latency_jitter_ms
        if jitter_ms:
            delay_ms = max(0.0, delay_ms + self._latency_rng.uniform(-jitter_ms, jitter_ms))
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

    def _error_response(self, fault: str) -> web.Response:
        status = _ERROR_STATUS[fault]
        headers = None
        if status == 429:
            headers = {"Retry-After": _seconds_text(self.config.retry_after_s)}
        message = f"Injected fault `{fault}` from the enrich fake server."
        return web.Response(
            status=status,
            body=error_body(message, _ERROR_TYPE[status], status),
            content_type="application/json",
            headers=headers,
        )

    def _completion(
        self, body: dict[str, Any], model: str, key: str, fault: str | None
    ) -> dict[str, Any]:
        schema, _transport = find_response_schema(body)
        schema_id, generator = self._generator_for(schema)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        top_n = min(int(body.get("top_logprobs") or 0), MAX_TOP_LOGPROBS)
        want_logprobs = bool(body.get("logprobs"))
        choices: list[dict[str, Any]] = []
        completion_tokens = 0
        for index in range(max(1, int(body.get("n") or 1))):
            choice_key = key if index == 0 else f"{key}#{index}"
            content, instance = self._valid_answer(schema_id, generator, choice_key)
            finish_reason = "stop"
            if fault in _CONTENT_FAULTS:
                content = self._faulty_content(fault, content, generator, choice_key)
                finish_reason = "length" if fault == "truncated_json" else "stop"
            tokens = split_tokens(content)
            if max_tokens and len(tokens) > max_tokens:
                tokens, finish_reason = tokens[:max_tokens], "length"
                content = "".join(tokens)
            completion_tokens += len(tokens)
            logprobs = None
            if want_logprobs:
                logprobs = self._logprobs(content, instance, generator, top_n, choice_key)
            choices.append(choice_body(index, content, finish_reason, logprobs))
        return chat_completion_body(
            f"chatcmpl-fake-{next(self._completion_ids)}", int(time.time()), model, choices,
            prompt_token_count(body.get("messages")), completion_tokens,
        )

    def _generator_for(self, schema: Any) -> tuple[bytes, SchemaInstanceGenerator | None]:
        if schema is None:
            return b"", None
        schema_id = orjson.dumps(schema)
        generator = self._generators.get(schema_id)
        if generator is None:
            try:
                generator = SchemaInstanceGenerator(schema)
            except SchemaInstanceError as error:
                raise RequestRejected(400, f"unusable JSON Schema: {error}",
                                      "BadRequestError") from error
            if len(self._generators) >= _GENERATOR_CACHE_SIZE:
                self._generators.clear()
            self._generators[schema_id] = generator
        return schema_id, generator

    def _valid_answer(
        self, schema_id: bytes, generator: SchemaInstanceGenerator | None, key: str
    ) -> tuple[str, Any]:
        """(content, instance) for ``key``: a schema-valid JSON text, or short plain text."""
        cached = self._answers.get((schema_id, key))
        if cached is not None:
            return cached
        seed = stable_seed(key)
        if generator is None:
            rng = random.Random(seed)
            answer: tuple[str, Any] = (words_of_length(rng.randint(20, 60), rng), None)
        else:
            try:
                instance = generator.valid_instance(seed)
            except SchemaInstanceError as error:
                raise RequestRejected(400, f"cannot answer this JSON Schema: {error}",
                                      "BadRequestError") from error
            answer = (orjson.dumps(instance).decode(), instance)
        if self.config.content_cache_size:
            if len(self._answers) >= self.config.content_cache_size:
                self._answers.clear()
            self._answers[(schema_id, key)] = answer
        return answer

    def _faulty_content(
        self, fault: str, content: str, generator: SchemaInstanceGenerator | None, key: str
    ) -> str:
        if fault == "truncated_json":
            return content[: len(content) // 2]
        if fault == "invalid_json":
            return INVALID_JSON_CONTENT
        if fault == "empty_content":
            return ""
        if generator is None:
            return "null"
        try:
            return orjson.dumps(generator.wrong_shape_instance(stable_seed(key))).decode()
        except SchemaInstanceError:
            return INVALID_JSON_CONTENT

    def _logprobs(
        self,
        content: str,
        instance: Any,
        generator: SchemaInstanceGenerator | None,
        top_n: int,
        key: str,
    ) -> dict[str, Any]:
        label = generator.label_enum() if generator is not None else None
        span = label_span(content, instance, label) if label is not None else None
        values = label[1] if label is not None and span is not None else None
        return build_logprobs(content, top_n, stable_seed("logprobs", key), span, values)


def _seconds_text(seconds: float) -> str:
    """Retry-After text: "2" for whole seconds, else the shortest decimal ("0.05")."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def _json_response(value: Any) -> web.Response:
    return web.Response(body=orjson.dumps(value), content_type="application/json")


def _constant_json(value: Any) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return _json_response(value)

    return handler
