"""Continuation scoring over HTTP: ``/v1/completions`` with ``echo`` and ``logprobs``.

vLLM's server answers a completions request with ``echo: true, logprobs: N`` by returning the
log-probability of every *prompt* token in the legacy completions shape
(``choices[0].logprobs.tokens / token_logprobs / text_offset``; vLLM
``entrypoints/openai/serving_completion.py`` echoes ``prompt_logprobs``). llama-cpp-python's
server answers the same request, but its values are shifted by one token for models without a
BOS token (0.3.36, ``Llama._create_completion``: row ``idx`` of the scores is read for token
``idx``), so ``scoring.unsupported_reason`` refuses llama.cpp servers.

The prompt is ``prefix + continuation``; the continuation's tokens are those whose text ends
past the prefix (``text_offset``), so no local tokenizer is needed. The first token of a prompt
has no log-probability (None) and is never part of the continuation.

OpenAI's API does not echo prompt log-probabilities: ``scoring.continuation_scorer`` refuses it
with a one-line message instead.
"""

import asyncio
from typing import Any

import aiohttp
import orjson

from enrich.errors import BackendError
from enrich.jobs import BackendSpec
from enrich.redact import Redactor


def continuation_logprobs(logprobs: dict[str, Any], prefix_len: int, total_len: int
                          ) -> list[float]:
    """Pick the continuation's token log-probabilities from an echoed completions answer.

    Args:
        logprobs: ``choices[0].logprobs`` (``tokens``, ``token_logprobs``, ``text_offset``).
        prefix_len: characters of the prefix in the prompt.
        total_len: characters of the whole prompt (prefix + continuation).

    Returns:
        One float per token that overlaps ``[prefix_len, total_len)``.
    """
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    offsets = logprobs.get("text_offset")
    if offsets is None:  # some servers omit offsets: rebuild them from the token texts
        offsets, position = [], 0
        for token in tokens:
            offsets.append(position)
            position += len(str(token))
    picked: list[float] = []
    for token, value, offset in zip(tokens, values, offsets, strict=False):
        start, end = int(offset), int(offset) + len(str(token))
        if start >= total_len:
            break  # generated tokens after the echoed prompt
        if end > prefix_len and value is not None:
            picked.append(float(value))
    return picked


class HttpContinuationScorer:
    """``score_continuations`` against an OpenAI-compatible server that echoes logprobs.

    Args:
        spec: the backend section (base URL, model, timeouts).
        api_key: bearer token (never stored).
        concurrency: requests in flight.
    """

    kind = "openai"

    def __init__(self, spec: BackendSpec, api_key: str | None = None, concurrency: int = 8):
        if not spec.base_url:
            raise BackendError("query likelihood over HTTP needs a server URL",
                               "set `backend.base_url` or pass --base-url http://host:8000/v1")
        self.spec = spec
        self.url = spec.base_url.rstrip("/") + "/completions"
        self.concurrency = max(1, concurrency)
        self._headers = {"Content-Type": "application/json"}
        self._redact = Redactor([api_key])
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency),
                timeout=aiohttp.ClientTimeout(total=self.spec.timeout_s))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _score(self, prefix: str, continuation: str) -> list[float]:
        if not continuation:
            return []
        assert self._session is not None
        prompt = prefix + continuation
        body = {"model": self.spec.model, "prompt": prompt, "max_tokens": 1, "echo": True,
                "logprobs": 1, "temperature": 0}
        for attempt in range(self.spec.max_retries + 1):
            try:
                async with self._session.post(self.url, data=orjson.dumps(body),
                                              headers=self._headers) as resp:
                    raw, status = await resp.read(), resp.status
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if attempt == self.spec.max_retries:
                    raise BackendError(f"query likelihood: the server at {self.url} did not "
                                       f"answer ({type(exc).__name__})",
                                       "check the server is up, then run again") from None
                await asyncio.sleep(0.5 * 2 ** attempt)
                continue
            if status >= 500 and attempt < self.spec.max_retries:
                await asyncio.sleep(0.5 * 2 ** attempt)
                continue
            return self._parse(raw, status, len(prefix), len(prompt))
        return []

    def _parse(self, raw: bytes, status: int, prefix_len: int, total_len: int) -> list[float]:
        detail = self._redact.cut(raw[:100_000].decode("utf-8", "replace"), 200)
        if status != 200:
            raise BackendError(f"query likelihood: {self.url} answered HTTP {status}: {detail}",
                               "the server must offer /v1/completions with echo and logprobs "
                               "(vLLM); or set task_options.query_likelihood.model "
                               "to an embedded model")
        try:
            logprobs = orjson.loads(raw)["choices"][0]["logprobs"] or {}
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"query likelihood: unexpected answer from {self.url} "
                               f"({type(exc).__name__}): {detail}",
                               "the server must return legacy completions logprobs") from None
        if not logprobs.get("token_logprobs"):
            raise BackendError(f"query likelihood: {self.url} returned no prompt "
                               "log-probabilities for an echoed prompt",
                               "serve the model with vLLM, or set "
                               "task_options.query_likelihood.model to an embedded model")
        return continuation_logprobs(logprobs, prefix_len, total_len)

    async def score_continuations(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        """For each ``(prefix, continuation)``, the continuation's token log-probabilities."""
        await self.start()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(prefix: str, continuation: str) -> list[float]:
            async with gate:
                return await self._score(prefix, continuation)

        return list(await asyncio.gather(*(one(p, c) for p, c in pairs)))
