"""What a non-200 answer means for the run: retry, fail the row, or stop the job.

Every fatal verdict carries a message that says what to do next on its own, so it reads right
wherever it is printed. Row-level verdicts keep the server's words (already redacted by the
caller).
"""

import email.utils
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_STRUCTURED_FIELD = re.compile(r"response_format|json_schema|json_object|structured_outputs|"
                               r"guided_json", re.IGNORECASE)
_REJECTED = re.compile(r"not supported|unsupported|not permitted|not allowed|unrecognized|"
                       r"extra inputs|invalid|input should be|unknown", re.IGNORECASE)
_UNSUPPORTED_PARAMETER = re.compile(r"unsupported (parameter|value)", re.IGNORECASE)
_TAGS = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_MODEL_MISSING = re.compile(r"model\b.*\b(not (be )?found|does not exist|not exist|unknown|"
                            r"not served)|no such model", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """What the classifier needs to know about the request.

    Attributes:
        url: the base URL.
        model: the model name sent.
        dialect: the structured-output dialect in use.
        dialect_hint: what to pass instead (from ``server_kind.dialect_hint``).
    """

    url: str
    model: str
    dialect: str
    dialect_hint: str


@dataclass(frozen=True, slots=True)
class HttpVerdict:
    """``kind`` is ``fatal``, ``rate_limited``, ``http_error`` or ``bad_request``."""

    kind: str
    message: str
    retry: bool = False


def error_fields(raw: bytes) -> tuple[str, str]:
    """(message on one line, code) of an error body: OpenAI's ``{"error": {message, code,
    type}}``, ``{"error": "text"}``, FastAPI's ``{"detail": ...}``, ``{"message": ...}``, or
    plain text (an HTML page's words)."""
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw[:65536].decode("utf-8", "replace")
        if text.lstrip().startswith("<"):  # an HTML error page: its words, not its markup
            text = _TAGS.sub(" ", text)
        return " ".join(text.split()), ""
    if not isinstance(data, dict):
        return str(data), ""
    error = data.get("error", data)
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or orjson.dumps(error).decode()
        code = " ".join(str(error.get(k) or "") for k in ("code", "type"))
        return " ".join(str(message).split()), code  # one line, whatever the server sent
    return " ".join(str(error).split()), ""


def classify(status: int, message: str, code: str, ctx: ErrorContext) -> HttpVerdict:
    """The verdict for an HTTP ``status`` whose body said ``message`` (``code``: error code and
    type, e.g. "insufficient_quota")."""
    if status in (401, 403):
        return HttpVerdict("fatal", f"the server at {ctx.url} rejected the API key (HTTP "
                           f"{status}: {message}) — check the key in the variable named by "
                           "--api-key-env")
    if status == 404:
        return _not_found(message, ctx)
    if status == 429 and "insufficient_quota" in code:
        return HttpVerdict("fatal", "the account behind the API key has no quota left (HTTP "
                           f"429 insufficient_quota: {message}) — add credit to the account "
                           "or use another key")
    if status in (400, 422, 500) and _STRUCTURED_FIELD.search(message) and \
            _REJECTED.search(message):
        return HttpVerdict("fatal", f"the server at {ctx.url} does not accept the structured-"
                           f"output request of --server {ctx.dialect} (HTTP {status}: "
                           f"{message}) — {ctx.dialect_hint}")
    if status == 400 and _UNSUPPORTED_PARAMETER.search(message):
        return HttpVerdict("fatal", f"model `{ctx.model}` refuses a parameter of the job (HTTP "
                           f"400: {message}) — remove it from the job's or prompt's `params`")
    if status in RETRY_STATUS:
        kind = "rate_limited" if status == 429 else "http_error"
        return HttpVerdict(kind, f"HTTP {status}: {message}", retry=True)
    return HttpVerdict("bad_request", f"HTTP {status}: {message}")


def _not_found(message: str, ctx: ErrorContext) -> HttpVerdict:
    if ctx.model in message or _MODEL_MISSING.search(message):
        return HttpVerdict("fatal", f"model `{ctx.model}` is not served at {ctx.url} (HTTP "
                           f"404: {message}) — pass --model with a model the server serves "
                           f"(GET {ctx.url}/models lists them)")
    where = f"POST {ctx.url}/chat/completions not found (HTTP 404"
    where += f": {message})" if message else ")"
    if not ctx.url.endswith("/v1"):
        return HttpVerdict("fatal", f"{where} — does the base URL end in /v1? (try "
                           f"--base-url {ctx.url}/v1)")
    return HttpVerdict("fatal", f"{where} — check --base-url: it should be the server's "
                       "OpenAI-compatible API root, e.g. http://host:8000/v1")


def retry_after_s(headers: Any, cap: float) -> float:
    """The ``Retry-After`` wait in seconds (a number or an HTTP date), at most ``cap``."""
    value = headers.get("Retry-After")
    if value is None:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return 0.0
    return min(max(seconds, 0.0), cap) if seconds == seconds else 0.0  # NaN → 0
