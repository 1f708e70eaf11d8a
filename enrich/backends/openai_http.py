"""OpenAI-compatible HTTP backend (vLLM's server, OpenAI, llama.cpp's servers, ...).

Speaks the chat-completions wire format over one pooled ``aiohttp`` session. Bodies are
plain dicts serialised with ``orjson``; the response envelope is read as a dict, and only the
generated content is validated (by the runner, with pydantic). Measured on this 2-core machine,
a bare aiohttp loop sends ~2,200 structured requests/s where the ``openai`` SDK's client manages
~290, so the SDK is not used on the hot path (see DESIGN.md).

At start it checks the server (``GET /models``: up, key accepted, model served) and asks it what
it is (``server_kind.py``): the structured-output dialect is chosen from that when the job does
not set ``server``, and a warning says when the one set will not work. Transient failures (429,
5xx, timeouts, connection resets, garbled bodies) are retried with exponential backoff and full
jitter, honouring ``Retry-After`` up to ``max_retry_after_s``. What cannot work for any row —
a rejected key, an unknown model or endpoint, no quota, a structured-output request the server
refuses, a server that ignores the schema, a URL that answers with web pages — stops the job
with one message that says what to do (``error_kind="fatal"``). Anything else that goes wrong
with one answer is that row's failure, with the server's words, and never leaks the API key.
"""

import asyncio
import os
import random
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from enrich.backends.answer_guard import AnswerGuard, Trip, trip_message
from enrich.backends.base import LLMRequest, LLMResult
from enrich.backends.http_errors import ErrorContext, classify, error_fields, retry_after_s
from enrich.backends.response_parse import Answer, parse_completion
from enrich.backends.server_kind import ServerIdentity, dialect_hint, probe_server
from enrich.backends.structured import structured_output_fields
from enrich.backends.wire_params import wire_params
from enrich.errors import BackendError
from enrich.jobs import BackendSpec
from enrich.redact import Redactor, url_credential
from enrich.request_stream import WorkerFeed

_DONE = object()
MAX_ANSWER_CHARS = 1 << 20  # content kept per answer; longer is a `too_large` row failure
MAX_BODY_BYTES = 8 << 20  # a response body is not read past this (logprobs make bodies big)
ERROR_CHARS = 300
PROBE_TIMEOUT_S = 5.0


def read_api_key(env_var: str | None) -> str | None:
    """The API key from the named environment variable (keys are never read from files)."""
    if not env_var:
        return None
    key = os.environ.get(env_var)
    if not key:
        raise BackendError(f"environment variable {env_var} is not set (it should hold the "
                           "API key)", f"export {env_var}=... or drop `api_key_env`")
    return key


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The body, or None when it is longer than ``cap`` bytes (the rest is not read)."""
    if resp.content_length is not None:
        return None if resp.content_length > cap else await resp.read()
    chunks, size = [], 0  # chunked transfer: count as it comes
    async for chunk in resp.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(slots=True)
class _Retry:
    """A failed attempt that may succeed when sent again."""

    kind: str
    error: str
    wait: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)


class OpenAICompatibleBackend:
    """Chat completions over HTTP with bounded concurrency, retries and backoff.

    Args:
        spec: the job's backend section (base URL, model, dialect, timeouts, retries).
        concurrency: requests in flight at once (also the connection-pool size).
        api_key: bearer token, already read from the environment (never stored).
        warn: where one-line warnings go (default: stderr).

    Attributes:
        dialect: the structured-output dialect in use (final after ``start()``).
        identity: what the server turned out to be, or None.
        status_note: set while waiting on a server's ``Retry-After`` (progress shows it).

    Example:
        >>> backend = OpenAICompatibleBackend(BackendSpec(kind="openai",   # doctest: +SKIP
        ...     base_url="http://localhost:8000/v1", model="Qwen/Qwen2.5-7B-Instruct"), 64)
    """

    kind = "openai"

    def __init__(self, spec: BackendSpec, concurrency: int, api_key: str | None = None, *,
                 warn: Callable[[str], None] | None = None):
        if not spec.base_url:
            raise BackendError("the openai backend needs a server URL",
                               "set `backend.base_url` or pass --base-url http://host:8000/v1")
        leak = url_credential(spec.base_url, [api_key])
        if leak:
            raise BackendError(f"the server URL carries a credential ({leak}); it would be "
                               "stored with the run and printed in messages",
                               "remove it from --base-url and put the key in an environment "
                               "variable named by --api-key-env")
        self.spec = spec
        self.model = spec.model
        self.concurrency = concurrency
        self.url = spec.base_url.rstrip("/")
        self.dialect: str = spec.server or spec.structured_dialect()
        self.identity: ServerIdentity | None = None
        self.status_note: str | None = None
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._redact = Redactor([api_key])
        self._warn = warn or _stderr_line
        self._session: aiohttp.ClientSession | None = None
        self._structured_cache: dict[int, dict[str, Any]] = {}
        self._guard = AnswerGuard(check_schema=self.dialect != "none")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._halted = False
        self._busy = self._waiting = 0
        self._warned_params = False

    # -- start / stop --------------------------------------------------------------------
    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300,
                                         keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.spec.timeout_s))
        models = await self._preflight()
        self._choose_dialect(await probe_server(self._get_json, self.url, models))

    async def close(self) -> None:
        """Stop every worker still running (nothing more is sent), then close the session."""
        self._halted = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _preflight(self) -> Any:
        """Check the server is up, the key works and the model is served (one GET /models);
        returns the parsed body for ``probe_server`` (None when there is none)."""
        assert self._session is not None
        try:
            async with self._session.get(f"{self.url}/models", headers=self._headers,
                                         timeout=aiohttp.ClientTimeout(total=15)) as resp:
                raw = await _read_capped(resp, MAX_BODY_BYTES) or b""
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise BackendError(
                f"cannot reach the LLM server at {self.url} ({type(exc).__name__})",
                "start the server (e.g. `vllm serve MODEL`) or fix --base-url") from None
        if status in (401, 403):
            raise BackendError(f"the server at {self.url} rejected the API key (HTTP {status})",
                               "check the key in the variable named by --api-key-env")
        if status != 200:
            return None  # some gateways have no /models; the first request will tell
        try:
            payload = orjson.loads(raw)
            served = [str(m.get("id")) for m in payload.get("data", [])]
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return None
        if served and self.model not in served:
            names = self._redact.cut(", ".join(served[:8]), ERROR_CHARS)
            raise BackendError(f"model `{self.model}` is not served at {self.url} (it serves: "
                               f"{names})", "pass --model with one of those names")
        return payload

    async def _get_json(self, url: str) -> Any:
        """GET ``url`` and parse its JSON body; None on any failure (for probing only)."""
        assert self._session is not None
        try:
            async with self._session.get(url, headers=self._headers, timeout=aiohttp.
                                         ClientTimeout(total=PROBE_TIMEOUT_S)) as resp:
                raw = await _read_capped(resp, 1 << 20)
                return orjson.loads(raw) if resp.status == 200 and raw else None
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return None

    def _choose_dialect(self, identity: ServerIdentity | None) -> None:
        """The dialect: the job's, else the server's own, else the documented default
        (``vllm``; a server that ignores it is caught by the answer guard)."""
        self.identity = identity
        if self.spec.server is None:
            if identity is not None:
                self.dialect = identity.preferred
        elif identity is not None and not identity.understands(self.spec.server):
            self._warn(f"warning: the server at {self.url} is {identity.label} "
                       f"({identity.evidence}), which does not understand --server "
                       f"{self.spec.server}: pass --server {identity.preferred}")
        self._guard.check_schema = self.dialect != "none"

    # -- request bodies ------------------------------------------------------------------
    def _structured(self, request: LLMRequest) -> dict[str, Any]:
        schema = request.schema
        cached = self._structured_cache.get(id(schema))
        if cached is None:
            cached = structured_output_fields(self.dialect, schema, request.schema_name)
            self._structured_cache[id(schema)] = cached
        return cached

    def _body(self, request: LLMRequest) -> bytes:
        params, dropped = wire_params(self.dialect, self.model, request.params)
        if dropped and not self._warned_params:
            self._warned_params = True
            self._warn(f"warning: model `{self.model}` is a reasoning model: not sending "
                       f"{', '.join(dropped)} (it refuses them)")
        body = {"model": self.model, "messages": request.messages, **params,
                **self._structured(request)}
        return orjson.dumps(body)

    # -- the stream ----------------------------------------------------------------------
    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        """Send requests with ``concurrency`` workers; yield results as they finish.

        Each worker takes its next request straight from ``requests`` when that offers a
        ``take()`` safe to share (:class:`enrich.request_stream.StreamRequests`, what the runner
        hands over); any other iterable is read by one pump task into a queue the workers share.
        After a fatal result nothing more is sent.
        """
        outbox: asyncio.Queue[Any] = asyncio.Queue()
        feed = WorkerFeed.of(requests, self.concurrency)
        take, waiting, helpers = feed.take, feed.waiting, feed.helpers

        async def worker() -> None:
            try:
                while not self._halted and (request := await take()) is not None:
                    self._busy += 1
                    try:
                        result = await self._send_safely(request)
                    finally:
                        self._busy -= 1
                    if self._halted:
                        break
                    idle = self._busy == 0 and not waiting()
                    for item in self._review(result, idle):
                        outbox.put_nowait(item)
            finally:
                outbox.put_nowait(_DONE)

        tasks = [asyncio.create_task(helper) for helper in helpers]
        tasks += [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        self._tasks.update(tasks)
        running = self.concurrency
        try:
            while running:
                item = await outbox.get()
                if item is _DONE:
                    running -= 1
                else:
                    yield item
            if not self._halted:
                for item in self._guard.flush():
                    yield item
                if helpers:
                    await tasks[0]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)

    def _review(self, result: LLMResult, idle: bool) -> list[LLMResult]:
        """Pass a result through the answer guard (which may hold it back or stop the run)."""
        if result.error_kind == "fatal":
            self._halted = True
            return [result]
        verdict = self._guard.review(result)
        if isinstance(verdict, Trip):
            self._halted = True
            return [LLMResult(result.request, error_kind="fatal", sends=result.sends,
                              error=trip_message(verdict, self.url, self.dialect,
                                                 self.identity, self._redact))]
        return verdict + self._guard.flush() if idle else verdict

    # -- one request ---------------------------------------------------------------------
    async def _send_safely(self, request: LLMRequest) -> LLMResult:
        """``_send``, with any exception turned into this row's failure (a worker never dies
        of one strange answer)."""
        try:
            return await self._send(request)
        except Exception as exc:  # noqa: BLE001 - recorded as the row's failure
            return LLMResult(request, error_kind="backend_error", error=self._redact.cut(
                f"unexpected error handling the answer: {type(exc).__name__}: {exc}",
                ERROR_CHARS))

    async def _send(self, request: LLMRequest) -> LLMResult:
        """One request with retries; never raises for server or network trouble."""
        assert self._session is not None, "start() the backend first"
        body = self._body(request)
        headers = {**self._headers, "X-Enrich-Key": request.key}
        url = f"{self.url}/chat/completions"
        started = time.perf_counter()
        failure = _Retry("http_error", "not sent (the run stopped)")
        sends = 0
        for attempt in range(self.spec.max_retries + 1):
            if self._halted:
                break
            if attempt:
                await self._pause(attempt, failure.wait)
                if self._halted:
                    break
            sends += 1
            outcome = await self._attempt(request, url, body, headers)
            if isinstance(outcome, LLMResult):
                outcome.sends, outcome.latency_s = sends, time.perf_counter() - started
                return outcome
            failure = outcome
        return LLMResult(request, error_kind=failure.kind, error=failure.error, sends=sends,
                         latency_s=time.perf_counter() - started, extra=failure.extra)

    async def _pause(self, attempt: int, wait: float) -> None:
        """Exponential backoff with full jitter, or the server's Retry-After if longer."""
        backoff = min(30.0, 0.25 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        if wait <= backoff:
            await asyncio.sleep(backoff)
            return
        self._waiting += 1
        self.status_note = (f"waiting {wait:.0f} s (server asked Retry-After)" if wait >= 1
                            else f"waiting {wait:.1f} s (server asked Retry-After)")
        try:
            await asyncio.sleep(wait)
        finally:
            self._waiting -= 1
            if not self._waiting:
                self.status_note = None

    async def _attempt(self, request: LLMRequest, url: str, body: bytes,
                       headers: dict[str, str]) -> LLMResult | _Retry:
        assert self._session is not None
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                raw = await _read_capped(resp, MAX_BODY_BYTES)
                if raw is None:
                    return LLMResult(request, error_kind="too_large", error=(
                        f"the response body is over {MAX_BODY_BYTES:,} bytes (Content-Length "
                        f"{resp.content_length or 'not given'}); it was not read"))
                if resp.status == 200:
                    return self._from_body(request, raw, resp.content_type)
                return self._from_error(request, resp.status, raw, resp.headers)
        except TimeoutError:
            return _Retry("timeout", f"no answer within {self.spec.timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return _Retry("connection",
                          self._redact.cut(f"{type(exc).__name__}: {exc}", ERROR_CHARS))

    def _from_body(self, request: LLMRequest, raw: bytes,
                   content_type: str) -> LLMResult | _Retry:
        parsed = parse_completion(raw, content_type, MAX_ANSWER_CHARS)
        if isinstance(parsed, Answer):
            content = parsed.content
            if content is not None:
                content = self._redact(content)
            return LLMResult(request, content=content,
                             raw=self._redact(parsed.raw), prompt_tokens=parsed.prompt_tokens,
                             completion_tokens=parsed.completion_tokens,
                             finish_reason=parsed.finish_reason, logprobs=parsed.logprobs)
        error = self._redact.cut(parsed.message, ERROR_CHARS)
        extra = {"sent": parsed.sent, "said": parsed.said} if parsed.sent else {}
        if parsed.retry:
            return _Retry(parsed.kind, error, extra=extra)
        return LLMResult(request, error_kind=parsed.kind, error=error, extra=extra)

    def _from_error(self, request: LLMRequest, status: int, raw: bytes,
                    headers: Any) -> LLMResult | _Retry:
        message, code = error_fields(raw)
        context = ErrorContext(self.url, self.model, self.dialect,
                               dialect_hint(self.identity, self.dialect, refused=True))
        verdict = classify(status, self._redact.cut(message, ERROR_CHARS), code, context)
        if verdict.retry:
            return _Retry(verdict.kind, verdict.message,
                          retry_after_s(headers, self.spec.max_retry_after_s))
        return LLMResult(request, error_kind=verdict.kind, error=verdict.message)
