"""Asking again after an answer that does not validate (up to the job's ``repair_attempts``).

- An answer cut at ``max_tokens`` (``finish_reason: length``) is asked again, unchanged, with
  twice the room (at most :data:`MAX_REASK_TOKENS`): the same room would cut it again.
- Any other invalid answer is shown back to the model with the validation error.

Both keep the request's cache key: the validated answer is stored under the key of what the
row rendered.

Example:
    >>> larger = with_more_room(request)                 # doctest: +SKIP
    >>> again = larger or with_the_problem(request, content, "`keywords`: Field required")
"""

from enrich.backends.base import LLMRequest

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
