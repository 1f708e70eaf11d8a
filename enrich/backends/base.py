"""The backend protocol: a stream of requests in, results out as they finish.

In-process engines that want whole batches (llama.cpp, ``vllm.LLM``) and concurrent HTTP
clients fit behind the same protocol: the runner hands over an async iterator of requests and
reads results in completion order. Records are slotted dataclasses, not pydantic models: they
are internal, and the HTTP hot path handles thousands of them per second.
"""

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

# Error kinds a result can carry. "fatal" stops the job (bad key, unknown model).
TRANSIENT_KINDS = frozenset({"http_error", "rate_limited", "timeout", "connection", "bad_response"})


@dataclass(slots=True)
class LLMRequest:
    """One chat-completion request.

    Attributes:
        key: content hash (the cache key) of messages, model, params, schema, prompt version.
        row_id: the source row this request is for.
        messages: chat messages.
        params: sampling parameters (only the ones that are set).
        schema: JSON Schema to constrain the output to, or None for free text.
        schema_name: the schema's name (OpenAI's json_schema wants one).
        attempt: 0 for the first ask, 1.. for repair re-asks.
    """

    key: str
    row_id: str
    messages: list[dict[str, str]]
    params: dict[str, Any]
    schema: dict[str, Any] | None = None
    schema_name: str = "output"
    attempt: int = 0


@dataclass(slots=True)
class LLMResult:
    """What a backend returns for a request; ``error_kind`` is None on success."""

    request: LLMRequest
    content: str | None = None
    raw: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str | None = None
    logprobs: list[dict[str, Any]] | None = None
    error_kind: str | None = None
    error: str | None = None
    sends: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_kind is None


class Backend(Protocol):
    """What every backend implements."""

    kind: str
    model: str

    async def start(self) -> None:
        """Load the model or check the server (raises BackendError with a clear message)."""

    async def close(self) -> None:
        """Release sessions, threads and models."""

    def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        """Send every request; yield one result per request as each finishes."""
        ...
