"""Query-likelihood scores for (query, item) pairs (UPR with a PMI correction).

A causal LM reads ``"Product: {item}\\nA shopper searching for this product typed:"`` and
scores the query's tokens: the mean log-probability of the query given the item, minus its mean
log-probability given an empty item (the PMI correction removes "this query is just common").
Higher means a better match. Measured on 400 Home Depot pairs (docs/architecture.md), this ranks
bad matches at AUC ≈ 0.70 with SmolLM2-135M, where the same model asked to judge is at chance;
it does not beat a bi-encoder (≈ 0.74).

The log-probabilities come from a backend capability (``enrich.backends.scoring``): the
embedded llama.cpp model, a vLLM or llama.cpp server (``/v1/completions`` with ``echo``), or
the vLLM offline engine (``prompt_logprobs``). OpenAI's API cannot score given text.

Example:
    >>> ql = QueryLikelihood(scorer)                                        # doctest: +SKIP
    >>> asyncio.run(ql.pmi_many([("cordless drill", "DeWalt drill")]))    # doctest: +SKIP
    [{'ql_cond': -2.1, 'ql_uncond': -3.5, 'ql_pmi': 1.4}]
"""

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from enrich.store import Store

DEFAULT_TEMPLATE = "Product: {item}\nA shopper searching for this product typed:"


class QueryLikelihoodOptions(BaseModel):
    """``task_options.query_likelihood`` of the bad-match task."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="embedded model name or .gguf (default: "
                                                        "the job's, when it is embedded)")
    template: str = Field(default=DEFAULT_TEMPLATE, description="prefix; {item} is replaced")
    max_item_chars: int = Field(default=400, ge=20, description="item text is cut to this")


class QueryLikelihood:
    """Query-likelihood scores of (query, item) pairs from any continuation scorer.

    Args:
        scorer: anything with ``score_continuations`` (see ``enrich.backends.scoring``): the
            embedded model, a vLLM or llama.cpp server, or the vLLM offline engine.
        template: the prefix, with ``{item}`` where the item text goes.
        name: stored with every score (which model scored it).
    """

    def __init__(self, scorer: Any, template: str = DEFAULT_TEMPLATE,
                 name: str = "query_likelihood"):
        self.scorer = scorer
        self.template = template
        self.name = name
        self._unconditional: dict[str, float | None] = {}

    async def pmi_many(self, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """``{"ql_cond", "ql_uncond", "ql_pmi"}`` per ``(query, item)`` (None for an empty
        query); each distinct query's unconditional score is computed once."""
        targets = [" " + query.strip() if query.strip() else "" for query, _ in pairs]
        asks = [(self.template.format(item=item), t) for (_, item), t in zip(pairs, targets,
                                                                             strict=True)]
        fresh = sorted({t for t in targets if t and t not in self._unconditional})
        empty = self.template.format(item="")
        scored = await self.scorer.score_continuations(asks + [(empty, t) for t in fresh])
        for target, values in zip(fresh, scored[len(asks):], strict=True):
            self._unconditional[target] = _mean(values)
        out = []
        for target, values in zip(targets, scored[:len(asks)], strict=True):
            cond = _mean(values)
            uncond = self._unconditional.get(target) if target else None
            pmi = cond - uncond if cond is not None and uncond is not None else None
            out.append({"ql_cond": cond, "ql_uncond": uncond, "ql_pmi": pmi})
        return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score_run(store: "Store", run_id: str, ql: QueryLikelihood, max_item_chars: int = 400,
              chunk: int = 64) -> dict[str, Any]:
    """Score every labelled pair of a bad-match run and store it in ``match_scores``.

    Args:
        store: the writable store.
        run_id: the bad-match run.
        ql: the query-likelihood scorer; its continuation scorer is started and closed here.
        max_item_chars: item text is cut to this many characters.
        chunk: pairs sent to the scorer at once.

    Returns:
        ``{"pairs": n, "seconds": s}``.
    """
    import asyncio
    import time

    from enrich.store import utcnow
    from enrich.tasks.common import replace_run_rows

    pairs = store.sql("SELECT o.row_id, q.output ->> '$.query', q.output ->> '$.item_text' "
                      "FROM outputs o JOIN requests q ON q.key = o.key WHERE o.run_id = ? "
                      "ORDER BY o.row_id", [run_id]).fetchall()
    started, now = time.perf_counter(), utcnow()
    rows: list[dict[str, Any]] = []

    async def score_all() -> None:
        start, close = getattr(ql.scorer, "start", None), getattr(ql.scorer, "close", None)
        if start is not None:
            await start()
        try:
            await score_chunks()
        finally:
            if close is not None:
                await close()

    async def score_chunks() -> None:
        for first in range(0, len(pairs), chunk):
            part = pairs[first:first + chunk]
            scores = await ql.pmi_many([(query or "", (item or "")[:max_item_chars])
                                        for _, query, item in part])
            rows.extend({"run_id": run_id, "pair_id": pair_id, **score, "scorer": ql.name,
                         "created_at": now} for (pair_id, _, _), score in zip(part, scores,
                                                                             strict=True))

    asyncio.run(score_all())
    replace_run_rows(store, "match_scores", run_id, rows)
    return {"pairs": len(rows), "seconds": time.perf_counter() - started}
