"""Asking again after an answer that does not validate (up to the job's ``repair_attempts``).

- An answer cut at ``max_tokens`` (``finish_reason: length``) is asked again, unchanged, with
  twice the room (at most :data:`MAX_REASK_TOKENS`): the same room would cut it again.
- Any other invalid answer is shown back to the model with the validation error.

Both keep the request's cache key: the validated answer is stored under the key of what the
row rendered.

Example:
    >>> larger = with_more_room(request)                 # doctest: +SKIP
    >>> again = larger or with_the_problem(request, content, "`keywords`: Field required")
    ... # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any, NamedTuple

from enrich.backends.base import LLMRequest, LLMResult
from enrich.schema_registry import OutputInvalid

if TYPE_CHECKING:
    from enrich.plan import RunPlan

MAX_REASK_TOKENS = 8192


def with_more_room(request: LLMRequest) -> LLMRequest | None:
    """The same request with twice its ``max_tokens`` (capped); None when it has no
    ``max_tokens`` or is at the cap already."""
    current = request.params.get("max_tokens")
    if not isinstance(current, int) or current >= MAX_REASK_TOKENS:
        return None
    params = {**request.params, "max_tokens": min(2 * current, MAX_REASK_TOKENS)}
    return LLMRequest(request.key, request.row_id, request.messages, params, request.schema,
                      request.schema_name, request.attempt + 1)


def with_the_problem(request: LLMRequest, content: str, problem: str) -> LLMRequest:
    """The conversation so far, the invalid answer, and a message naming what is wrong."""
    messages = [*request.messages, {"role": "assistant", "content": content},
                {"role": "user", "content": f"That answer is not valid ({problem}). Reply "
                                            "again with only the JSON object, matching the "
                                            "schema exactly."}]
    return LLMRequest(request.key, request.row_id, messages, request.params, request.schema,
                      request.schema_name, request.attempt + 1)


class Rejected(NamedTuple):
    """An answer that failed for good: its failure kind and message."""

    kind: str
    message: str


def judge(plan: "RunPlan", result: LLMResult) -> "dict[str, Any] | LLMRequest | Rejected":
    """What to do with one backend result: its validated output (a dict, not yet
    post-processed), the request to send again (a repair re-ask), or the failure to store.

    The one decision the live runner and the Ray workers both make. A validation failure is
    ``empty_output`` for blank text, ``truncated`` when cut at ``max_tokens``, else the
    schema's own kind; it is re-asked while ``attempt < repair_attempts``.
    """
    request = result.request
    if not result.ok:
        return Rejected(result.error_kind or "backend_error", result.error or "")
    content = result.content or ""
    try:
        return plan.validate_output(content)
    except OutputInvalid as exc:
        kind = exc.kind
        if not content.strip():
            kind = "empty_output"
        elif result.finish_reason == "length":
            kind = "truncated"
        if request.attempt < plan.job.repair_attempts:
            larger = with_more_room(request) if kind == "truncated" else None
            return larger or with_the_problem(request, content, exc.message)
        return Rejected(kind, exc.message)
