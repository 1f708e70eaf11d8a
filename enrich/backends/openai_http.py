"""OpenAI-compatible HTTP backend (vLLM's server, OpenAI, llama.cpp's server, ...).

Speaks the chat-completions wire format over one pooled ``aiohttp`` session. Bodies are
plain dicts serialised with ``orjson``; the response envelope is read as a dict, and only the
generated content is validated (by the runner, with pydantic). Measured on this 2-core machine,
a bare aiohttp loop sends ~2,200 structured requests/s where the ``openai`` SDK's client manages
~290, so the SDK is not used on the hot path (see DESIGN.md).

Transient failures (429, 5xx, timeouts, connection resets, garbled envelopes) are retried with
exponential backoff and full jitter, honouring ``Retry-After``. A bad API key (401/403) or an
unknown model (404) is fatal: the job stops with a message saying what to fix.
"""

import asyncio
import os
import random
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import aiohttp
import orjson

from enrich.backends.base import LLMRequest, LLMResult
from enrich.backends.structured import structured_output_fields
from enrich.errors import BackendError
from enrich.jobs import BackendSpec

_DONE = object()
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def read_api_key(env_var: str | None) -> str | None:
    """The API key from the named environment variable (keys are never read from files)."""
    if not env_var:
        return None
    key = os.environ.get(env_var)
    if not key:
        raise BackendError(f"environment variable {env_var} is not set (it should hold the "
                           "API key)", f"export {env_var}=... or drop `api_key_env`")
    return key


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), 300.0))
    except ValueError:
        return None


def _error_text(raw: bytes) -> str:
    try:
        err = orjson.loads(raw).get("error", {})
        if isinstance(err, dict):
            return str(err.get("message", ""))[:300]
        return str(err)[:300]
    except (orjson.JSONDecodeError, AttributeError):
        return raw[:300].decode("utf-8", "replace")


class OpenAICompatibleBackend:
    """Chat completions over HTTP with bounded concurrency, retries and backoff.

    Args:
        spec: the job's backend section (base URL, model, dialect, timeouts, retries).
        concurrency: requests in flight at once (also the connection-pool size).
        api_key: bearer token, already read from the environment (never stored).

    Example:
        >>> backend = OpenAICompatibleBackend(BackendSpec(kind="openai",   # doctest: +SKIP
        ...     base_url="http://localhost:8000/v1", model="Qwen/Qwen2.5-7B-Instruct"), 64)
    """

    kind = "openai"

    def __init__(self, spec: BackendSpec, concurrency: int, api_key: str | None = None):
        if not spec.base_url:
            raise BackendError("the openai backend needs a server URL",
                               "set `backend.base_url` or pass --base-url http://host:8000/v1")
        self.spec = spec
        self.model = spec.model
        self.concurrency = concurrency
        self.url = spec.base_url.rstrip("/")
        self.dialect = spec.structured_dialect()
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._secret = api_key
        self._session: aiohttp.ClientSession | None = None
        self._structured_cache: dict[int, dict[str, Any]] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300,
                                         keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.spec.timeout_s))
        await self._preflight()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _preflight(self) -> None:
        """Check the server is up, the key works and the model is served (one GET /models)."""
        assert self._session is not None
        try:
            async with self._session.get(f"{self.url}/models", headers=self._headers,
                                         timeout=aiohttp.ClientTimeout(total=15)) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise BackendError(
                f"cannot reach the LLM server at {self.url} ({type(exc).__name__})",
                "start the server (e.g. `vllm serve MODEL`) or fix --base-url") from None
        if status in (401, 403):
            raise BackendError(f"the server at {self.url} rejected the API key (HTTP {status})",
                               "check the key in the variable named by --api-key-env")
        if status != 200:
            return  # some gateways have no /models; the first request will tell
        try:
            served = [m.get("id") for m in orjson.loads(raw).get("data", [])]
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return
        if served and self.model not in served:
            raise BackendError(
                f"model `{self.model}` is not served at {self.url} (it serves: "
                f"{', '.join(map(str, served[:8]))})", "pass --model with one of those names")

    def _structured(self, request: LLMRequest) -> dict[str, Any]:
        schema = request.schema
        cached = self._structured_cache.get(id(schema))
        if cached is None:
            cached = structured_output_fields(self.dialect, schema, request.schema_name)
            self._structured_cache[id(schema)] = cached
        return cached

    def _body(self, request: LLMRequest) -> bytes:
        body = {"model": self.model, "messages": request.messages, **request.params,
                **self._structured(request)}
        return orjson.dumps(body)

    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        """Send requests with ``concurrency`` workers; yield results as they finish.

        The pump fills the inbox in bursts: it pauses once ``2 × concurrency`` requests wait
        and resumes when the workers have taken half of them, instead of being woken up once
        per request as a bounded queue would.
        """
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        outbox: asyncio.Queue[Any] = asyncio.Queue()
        room = asyncio.Event()
        low, high = self.concurrency, 2 * self.concurrency

        async def pump() -> None:
            try:
                async for request in requests:
                    inbox.put_nowait(request)
                    if inbox.qsize() >= high:
                        room.clear()
                        await room.wait()
            finally:
                for _ in range(self.concurrency):
                    inbox.put_nowait(_DONE)

        async def worker() -> None:
            try:
                while (request := await inbox.get()) is not _DONE:
                    if inbox.qsize() <= low:
                        room.set()
                    outbox.put_nowait(await self._send(request))
            finally:
                outbox.put_nowait(_DONE)

        tasks = [asyncio.create_task(pump())]
        tasks += [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        running = self.concurrency
        try:
            while running:
                item = await outbox.get()
                if item is _DONE:
                    running -= 1
                else:
                    yield item
            await tasks[0]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, request: LLMRequest) -> LLMResult:
        """One request with retries; never raises for server or network trouble."""
        assert self._session is not None, "start() the backend first"
        body = self._body(request)
        headers = {**self._headers, "X-Enrich-Key": request.key}
        url = f"{self.url}/chat/completions"
        started = time.perf_counter()
        kind, error, wait = "http_error", "", 0.0
        for attempt in range(self.spec.max_retries + 1):
            if attempt:
                backoff = min(30.0, 0.25 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
                await asyncio.sleep(max(wait, backoff))
            wait = 0.0
            try:
                async with self._session.post(url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    status = resp.status
                    if status == 200:
                        result = self._parse(request, raw)
                        result.sends = attempt + 1
                        result.latency_s = time.perf_counter() - started
                        if result.error_kind != "bad_response":
                            return result
                        kind, error = result.error_kind, result.error or ""
                        continue
                    detail = self._redact(_error_text(raw))
                    if status in (401, 403):
                        return self._fatal(request, f"the server rejected the API key (HTTP "
                                           f"{status}): {detail}", attempt)
                    if status == 404:
                        return self._fatal(request, f"model `{self.model}` or endpoint not "
                                           f"found at {self.url} (HTTP 404): {detail}", attempt)
                    if status not in _RETRY_STATUS:
                        return LLMResult(request, error_kind="bad_request", sends=attempt + 1,
                                         error=f"HTTP {status}: {detail}",
                                         latency_s=time.perf_counter() - started)
                    kind = "rate_limited" if status == 429 else "http_error"
                    error = f"HTTP {status}: {detail}"
                    wait = _retry_after(resp.headers) or 0.0
            except TimeoutError:
                kind, error = "timeout", f"no answer within {self.spec.timeout_s:g} s"
            except (aiohttp.ClientError, OSError) as exc:
                kind, error = "connection", self._redact(f"{type(exc).__name__}: {exc}")[:300]
        return LLMResult(request, error_kind=kind, error=error,
                         sends=self.spec.max_retries + 1,
                         latency_s=time.perf_counter() - started)

    def _redact(self, text: str) -> str:
        """Error text without the API key (some servers echo it back in their errors)."""
        return text.replace(self._secret, "***") if self._secret else text

    def _fatal(self, request: LLMRequest, message: str, attempt: int) -> LLMResult:
        return LLMResult(request, error_kind="fatal", error=message, sends=attempt + 1)

    @staticmethod
    def _parse(request: LLMRequest, raw: bytes) -> LLMResult:
        try:
            data = orjson.loads(raw)
            choice = data["choices"][0]
            content = choice["message"].get("content")
            usage = data.get("usage") or {}
            logprobs = (choice.get("logprobs") or {}).get("content")
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return LLMResult(request, error_kind="bad_response",
                             error=f"unexpected response body ({type(exc).__name__})")
        return LLMResult(
            request, content=content, raw=raw.decode("utf-8", "replace"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason"), logprobs=logprobs)
