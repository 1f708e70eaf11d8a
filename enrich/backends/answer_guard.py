"""Noticing, from a run's first answers, that the server is not doing what it is asked.

Two mistakes look like row failures but are the job's: a server that ignores the schema field
of the chosen ``--server`` dialect (it answers HTTP 200 with free text: every row would fail
``invalid_json``), and a base URL that is a web page, a login proxy or a streaming endpoint
(HTTP 200 with HTML or an event stream: every row would fail ``bad_response``). The guard holds
back the first such answers; once ``limit`` of them come in a row with no good answer before,
it trips and the backend stops the run with one message instead of recording every row as
failed. A good answer disarms it for the rest of the run and releases what it held.
"""

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from enrich.backends.base import LLMResult
from enrich.backends.server_kind import ServerIdentity, dialect_hint
from enrich.backends.structured import body_field_name


@dataclass(frozen=True, slots=True)
class Trip:
    """Why the guard stopped the run.

    Attributes:
        what: ``not_json`` (free text despite a schema), or what the bodies were: ``html``,
            ``sse``, ``not_json_body``.
        count: answers in a row.
        sample: the first answer's text (or error), for the message.
    """

    what: str
    count: int
    sample: str


def looks_like_json(text: str | None) -> bool:
    """Whether an answer is JSON, or the start of it (a truncated or fenced object counts)."""
    body = (text or "").strip()
    if body.startswith("```"):
        body = body.partition("\n")[2].lstrip()
    if body[:1] in ("{", "["):
        return True
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


class AnswerGuard:
    """Holds the first suspicious answers of a run and trips after ``limit`` in a row.

    Args:
        check_schema: the requests carry a schema (the dialect is not ``none``).
        not_json_limit: free-text answers in a row that mean the schema is ignored.
        bad_body_limit: HTML / event-stream / non-JSON bodies in a row that mean a wrong URL.

    Example:
        >>> guard = AnswerGuard(check_schema=True, not_json_limit=2)
    """

    def __init__(self, *, check_schema: bool, not_json_limit: int = 5, bad_body_limit: int = 3):
        self.check_schema = check_schema
        self.not_json_limit = not_json_limit
        self.bad_body_limit = bad_body_limit
        self._schema_streak = 0
        self._body_streak = 0
        self._body_armed = True
        self._held: list[LLMResult] = []
        self._samples: dict[str, str] = {}

    def review(self, result: LLMResult) -> list[LLMResult] | Trip:
        """The results to pass on now (possibly none: held), or why the run must stop."""
        if result.ok:
            self._body_armed = False  # the server answers with completions
            if not self.check_schema or result.request.schema is None:
                return self._release(result)
            if not (result.content or "").strip():
                return [result]  # an empty answer says nothing about the schema
            if looks_like_json(result.content):
                self.check_schema = False  # the schema is honoured: stop watching
                return self._release(result)
            return self._suspect(result, "_schema_streak", "not_json", self.not_json_limit,
                                 result.content or "")
        sent = result.extra.get("sent")
        if self._body_armed and result.error_kind == "bad_response" and sent:
            what = "not_json_body" if sent == "not_json" else str(sent)
            return self._suspect(result, "_body_streak", what, self.bad_body_limit,
                                 str(result.extra.get("said") or result.error or ""))
        return [result]

    def _suspect(self, result: LLMResult, streak: str, what: str, limit: int,
                 sample: str) -> list[LLMResult] | Trip:
        count = getattr(self, streak) + 1
        setattr(self, streak, count)
        first = self._samples.setdefault(streak, sample)
        if count >= limit:
            self._held.clear()
            return Trip(what, count, first)
        self._held.append(result)
        return []

    def _release(self, result: LLMResult) -> list[LLMResult]:
        released, self._held = [*self._held, result], []
        return released

    def flush(self) -> list[LLMResult]:
        """Everything held (called when nothing else is in flight, and at the end)."""
        released, self._held = self._held, []
        return released


def trip_message(trip: Trip, url: str, dialect: str, identity: ServerIdentity | None,
                 redact: Callable[[str], str]) -> str:
    """The one-line message that stops the run, saying what to pass or check instead.

    Args:
        trip: why the guard tripped.
        url: the server's base URL.
        dialect: the structured-output dialect in use.
        identity: what the server turned out to be, if it said.
        redact: removes the API key from the sample.
    """
    sample = redact(" ".join(trip.sample.split()))[:120]
    if trip.what == "not_json":
        return (f"the server at {url} ignores the output schema: its first {trip.count} "
                f"answers are not JSON (the first began {sample[:60]!r}); --server {dialect} sends "
                f"the schema as {body_field_name(dialect)} — {dialect_hint(identity, dialect)}")
    body = {"html": "an HTML page", "sse": "an event stream (text/event-stream)"}.get(
        trip.what, "a body that is not JSON")
    return (f"the server at {url} answered its first {trip.count} requests with {body} "
            f"instead of a chat completion: {sample} — check --base-url: it should be the "
            "server's OpenAI-compatible API (e.g. http://host:8000/v1), not a web page, a "
            "login proxy or a streaming endpoint")
