"""A backend that answers each request from a provider's results file.

``enrich batch import`` runs the ordinary :class:`enrich.runner.Runner` with this backend, so a
batch's answers go through exactly what a live answer goes through: the cache check, output
validation with local repair, the task's post-processing, failure rows with their kinds, and
the batched, crash-safe writes. The request's cache key is the line's ``custom_id``.

- An answer or a failure in the file is returned as the live backend would return it.
- A key the file does not hold, or holds as never run (``batch_expired``), comes back as
  ``unanswered``: the runner leaves its rows pending (a later import or export picks them up).
- A repair re-ask (``attempt`` ≥ 1) cannot be answered from a file: it gets the same answer
  again with ``sends=0``, so once the job's ``repair_attempts`` are used up the row is stored
  as a failure with the validation error, and ``enrich retry RUN_ID`` re-sends it live.

Example:
    >>> backend = ResultsFileBackend(read_results([path], model), model)   # doctest: +SKIP
    >>> summary = asyncio.run(Runner(plan, store, backend).run())         # doctest: +SKIP
"""

from collections.abc import AsyncIterable, AsyncIterator

from enrich.backends.base import LLMRequest, LLMResult
from enrich.batch_files.results import ResultsIndex

UNANSWERED = "unanswered"  # the runner leaves such a request's rows pending


class ResultsFileBackend:
    """Answers from a :class:`ResultsIndex` (see the module docstring).

    Args:
        results: the results files, read.
        model: the job's model (recorded with each stored request).
    """

    kind = "batch-file"

    def __init__(self, results: ResultsIndex, model: str):
        self.results = results
        self.model = model
        self.concurrency = 256
        self.answered: set[str] = set()
        self.found = 0  # requests the files hold a line for (answered, failed or not run)

    async def start(self) -> None:
        """Nothing to load or reach."""

    async def close(self) -> None:
        """Nothing to release."""

    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        """One result per request, in order, straight from the file."""
        async for request in requests:
            yield self.answer(request)

    def answer(self, request: LLMRequest) -> LLMResult:
        """The file's result for ``request`` (see the module docstring)."""
        outcome = self.results.outcomes.get(request.key)
        self.found += outcome is not None and request.attempt == 0
        if outcome is None or outcome.status == "not_run":
            why = outcome.error if outcome is not None else "not in the results file"
            return LLMResult(request, error_kind=UNANSWERED, error=why, sends=0)
        sends = 0 if request.attempt > 0 else 1  # a re-ask is not sent anywhere
        self.answered.add(request.key)
        if outcome.status == "failure":
            return LLMResult(request, error_kind=outcome.error_kind, error=outcome.error,
                             sends=sends)
        tokens_in, tokens_out = (0, 0) if sends == 0 else (outcome.prompt_tokens,
                                                             outcome.completion_tokens)
        return LLMResult(request, content=outcome.content, raw=outcome.raw,
                         prompt_tokens=tokens_in, completion_tokens=tokens_out,
                         finish_reason=outcome.finish_reason, logprobs=outcome.logprobs,
                         sends=sends)
