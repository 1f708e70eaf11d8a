"""The provider batch file formats: one JSON object per line (JSONL).

Requests are what OpenAI's Batch API takes as its input file, and what ``vllm run-batch -i``
reads; vLLM's ``BatchRequestInput`` (``vllm/entrypoints/openai/run_batch.py``) spells it out::

    {"custom_id": "…", "method": "POST", "url": "/v1/chat/completions", "body": {…}}

Results are OpenAI's output and error files, and what ``vllm run-batch -o`` writes; vLLM's
``BatchRequestOutput`` and ``BatchResponseData`` (same file)::

    {"id": "…", "custom_id": "…",
     "response": {"status_code": 200, "request_id": "…", "body": {chat completion}} | null,
     "error": null | {"code": "batch_expired", "message": "…"} | "a message"}

``custom_id`` is enrich's cache key, so a result finds its rows whatever the order of the file.
OpenAI's error file carries ``error.code`` ``batch_expired`` (not run before the completion
window ended), ``batch_cancelled`` and ``request_timeout``; vLLM writes ``status_code`` 400 with
``error`` a message or an ``ErrorResponse``.

Example:
    >>> line = BatchOutputLine.model_validate({"id": "b1", "custom_id": "k", "response": None,
    ...                                        "error": {"code": "batch_expired"}})
    >>> line.error_code()
    'batch_expired'
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

CHAT_URL = "/v1/chat/completions"
# error codes of OpenAI's batch error file that mean "never run": the rows stay pending
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled"})


class BatchRequestLine(BaseModel):
    """One line of a requests file (OpenAI batch input, ``vllm run-batch -i``)."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str
    method: Literal["POST"] = "POST"
    url: str = CHAT_URL
    body: dict[str, Any]


class BatchResponseData(BaseModel):
    """The HTTP answer a batch line got (``body`` is None on vLLM's error lines)."""

    model_config = ConfigDict(extra="allow")

    status_code: int = 200
    request_id: str | None = None
    body: Any = None


class BatchOutputLine(BaseModel):
    """One line of a results file (OpenAI output or error file, ``vllm run-batch -o``)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    custom_id: str
    response: BatchResponseData | None  # (required, null allowed: as vLLM's model)
    error: Any

    def error_code(self) -> str:
        """The ``error`` object's ``code`` as text ("" when there is none)."""
        error = self.error
        if isinstance(error, dict):
            nested = error.get("error")
            inner = nested if isinstance(nested, dict) else error
            return str(inner.get("code") or "")
        return ""

    def error_message(self) -> str:
        """What ``error`` says, whatever its shape (a string, OpenAI's object, vLLM's
        ``ErrorResponse``)."""
        error = self.error
        if isinstance(error, dict):
            nested = error.get("error")
            inner = nested if isinstance(nested, dict) else error
            return str(inner.get("message") or inner)
        return "" if error is None else str(error)
