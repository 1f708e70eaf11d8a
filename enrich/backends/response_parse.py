"""Reading an HTTP 200 body as a chat completion, whatever the server actually sent.

Real servers and the proxies in front of them answer 200 with more than the textbook shape:
content as a list of parts, the completions-API ``choices[0].text``, ``choices: []`` with an
``error`` object, a ``refusal`` instead of content, an HTML login page, a server-sent event
stream, absurdly large content, token counts that are strings or negative. Each becomes either
an :class:`Answer` or a :class:`BadAnswer` that keeps the server's own words; nothing here
raises, so a strange body is one row's failure, never a crashed job.
"""

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

SNIPPET_CHARS = 200
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


@dataclass(slots=True)
class Answer:
    """A chat completion, read."""

    content: str | None
    raw: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    logprobs: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class BadAnswer:
    """An HTTP 200 that is not a usable chat completion.

    Attributes:
        kind: ``bad_response`` (not a completion), ``refused`` (the model declined) or
            ``too_large`` (content over the cap).
        message: what the server sent, in its own words where it gave any.
        retry: whether sending again may help (a garbled body may; an HTML page will not).
        sent: ``html``, ``sse`` or ``not_json`` when the body is not a JSON completion at all
            (several in a row mean the base URL or server is wrong), else "".
        said: the body's own words in that case (an HTML page's title, the first bytes).
    """

    kind: str
    message: str
    retry: bool = False
    sent: str = ""
    said: str = ""


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:SNIPPET_CHARS] + ("…" if len(flat) > SNIPPET_CHARS else "")


def _not_json(raw: bytes, content_type: str) -> BadAnswer:
    head = raw.lstrip()[:4096]
    lowered = head[:512].lower()
    if "html" in content_type or lowered.startswith((b"<!doctype html", b"<html")):
        title = _TITLE.search(head)
        text = title.group(1) if title else head
        words = repr(_snippet(_TAGS.sub(" ", text.decode("utf-8", "replace"))))
        return BadAnswer("bad_response", f"HTTP 200 with an HTML page instead of a chat "
                         f"completion: {words}", sent="html", said=words)
    words = repr(_snippet(head.decode("utf-8", "replace")))
    if "event-stream" in content_type or lowered.startswith((b"data:", b"event:", b":")):
        return BadAnswer("bad_response", "HTTP 200 with an event stream (text/event-stream) "
                         f"instead of one JSON chat completion: {words}", sent="sse",
                         said=words)
    return BadAnswer("bad_response", f"HTTP 200 whose body is not JSON: {words}", retry=True,
                     sent="not_json", said=words)


def token_count(value: Any) -> int:
    """A usage count as an int ≥ 0 (strings of digits accepted; anything else is 0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and math.isfinite(value):
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def content_text(value: Any) -> str | None:
    """Message content as text: a string, the text parts of a list joined, JSON otherwise."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [part if isinstance(part, str) else part.get("text") for part in value
                 if isinstance(part, str) or isinstance(part, dict)]
        texts = [part for part in parts if isinstance(part, str)]
        return "".join(texts) if texts else None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or orjson.dumps(error).decode())
    return str(error)


def _read_choice(data: dict[str, Any]) -> dict[str, Any] | BadAnswer:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        if data.get("error") is not None:
            return BadAnswer("bad_response", "HTTP 200 with an error instead of a completion: "
                             f"{_error_message(data['error'])}", retry=True)
        return BadAnswer("bad_response", "HTTP 200 with no `choices`: "
                         f"{_snippet(orjson.dumps(data).decode())}", retry=True)
    choice = choices[0]
    if not isinstance(choice, dict):
        return BadAnswer("bad_response", f"HTTP 200 whose first choice is not an object: "
                         f"{_snippet(repr(choice))}", retry=True)
    return choice


def _answer(data: dict[str, Any], raw: str, max_content_chars: int) -> Answer | BadAnswer:
    choice = _read_choice(data)
    if isinstance(choice, BadAnswer):
        return choice
    message = choice.get("message")
    if isinstance(message, dict):
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            return BadAnswer("refused", f"the model refused: {refusal}")
        content = content_text(message.get("content"))
    elif "text" in choice:  # the completions API's shape
        content = content_text(choice.get("text"))
    else:
        return BadAnswer("bad_response", "HTTP 200 whose choice has neither `message` nor "
                         f"`text`: {_snippet(orjson.dumps(choice).decode())}", retry=True)
    if content is not None and len(content) > max_content_chars:
        return BadAnswer("too_large", f"the answer is {len(content):,} characters, over the "
                         f"{max_content_chars:,} kept per answer; it was not stored")
    found = data.get("usage")
    usage: dict[str, Any] = found if isinstance(found, dict) else {}
    logprobs = choice.get("logprobs")
    entries = logprobs.get("content") if isinstance(logprobs, dict) else None
    finish = choice.get("finish_reason")
    return Answer(content, raw, token_count(usage.get("prompt_tokens")),
                  token_count(usage.get("completion_tokens")),
                  finish if isinstance(finish, str) else None,
                  entries if isinstance(entries, list) else None)


def parse_completion(raw: bytes, content_type: str = "application/json",
                     max_content_chars: int = 1 << 20) -> Answer | BadAnswer:
    """Read an HTTP 200 body.

    Args:
        raw: the body as received.
        content_type: the response's Content-Type (lower case, without parameters).
        max_content_chars: longer content is a ``too_large`` failure, not kept.

    Returns:
        The answer, or what was wrong with the body. Never raises.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _not_json(raw, content_type)
    if not isinstance(data, dict):
        words = repr(_snippet(raw.decode("utf-8", "replace")))
        return BadAnswer("bad_response", f"HTTP 200 whose body is JSON but not a chat "
                         f"completion: {words}", sent="not_json", said=words)
    try:
        return _answer(data, raw.decode("utf-8", "replace"), max_content_chars)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError,
            RecursionError) as exc:  # a shape nobody foresaw: one row's failure
        return BadAnswer("bad_response", f"unexpected response body ({type(exc).__name__}: "
                         f"{exc})", retry=True)
