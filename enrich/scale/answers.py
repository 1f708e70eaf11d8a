"""A worker's share of a run: send requests, validate, re-ask, post-process — as the runner.

The verdict on each result is the live runner's (``Runner._handle``): a failed result is a
failure of its kind; an answer is validated with the plan's schema after local repair; an
invalid one is asked again (with more room when it was cut at ``max_tokens``, else with the
validation error) up to the job's ``repair_attempts``, then stored as ``empty_output``,
``truncated`` or the validation's kind; a valid one goes through the task's ``postprocess``. A
``fatal`` result (bad key, unknown model) stops the worker with a :class:`BackendError`.

Example:
    >>> answers = await answer_requests(plan, backend, requests)   # doctest: +SKIP
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from enrich.backends.base import Backend, LLMRequest, LLMResult
from enrich.errors import BackendError
from enrich.plan import RunPlan
from enrich.reask import Rejected
from enrich.reask import judge as judge_result


@dataclass(slots=True)
class Answered:
    """The final result of one request (a row of a worker's result file)."""

    key: str
    row_id: str
    ok: bool
    sends: int
    content: str | None = None
    raw: str | None = None
    output: str | None = None
    logprobs: str | None = None
    params: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    error_kind: str | None = None
    error: str | None = None
    created_at: int = 0


def _now_us() -> int:
    return time.time_ns() // 1000


def judge(plan: RunPlan, result: LLMResult) -> "Answered | LLMRequest":
    """The final answer for ``result``, or the request to send again (a repair re-ask).

    Raises:
        BackendError: the result is ``fatal`` (nothing the job sends can work).
    """
    request = result.request
    if result.error_kind == "fatal":  # the backend's message says what to fix
        raise BackendError(result.error or "fatal backend error", "")
    output = judge_result(plan, result)
    if isinstance(output, Rejected):
        return _failed(request, output.kind, output.message, result.content, result.sends)
    if isinstance(output, LLMRequest):
        return output
    output = plan.task.postprocess(output, result)
    return Answered(request.key, request.row_id, True, result.sends, result.content,
                    result.raw, orjson.dumps(output).decode(),
                    orjson.dumps(result.logprobs).decode() if result.logprobs else None,
                    orjson.dumps(request.params).decode(), result.prompt_tokens,
                    result.completion_tokens, result.latency_s * 1000.0,
                    result.finish_reason, created_at=_now_us())


def _failed(request: LLMRequest, kind: str, message: str, content: str | None,
            sends: int) -> Answered:
    return Answered(request.key, request.row_id, False, sends, content, error_kind=kind,
                    error=message[:2000], created_at=_now_us())


async def answer_requests(plan: RunPlan, backend: Backend,
                          requests: list[LLMRequest]) -> list[Answered]:
    """Send ``requests`` through ``backend`` (re-asks included); one answer per request."""
    queue: asyncio.Queue[LLMRequest | None] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    left = len(requests)
    answers: list[Answered] = []
    if not left:
        return answers

    async def stream() -> AsyncIterator[LLMRequest]:
        while (request := await queue.get()) is not None:
            yield request

    results = backend.generate(stream())
    try:
        async for result in results:
            verdict = judge(plan, result)
            if isinstance(verdict, LLMRequest):
                queue.put_nowait(verdict)
                continue
            answers.append(verdict)
            left -= 1
            if not left:
                queue.put_nowait(None)
    finally:
        close: Any = getattr(results, "aclose", None)
        if close is not None:
            await close()
    return answers
