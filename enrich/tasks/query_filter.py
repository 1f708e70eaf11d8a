"""The consistency filter of synthetic queries (InPars / Promptagator round-trip filtering).

A generated query is kept when its own item comes back in the top ``k`` for it under a
retriever over the whole item table (BM25, or the base bi-encoder), or, when a threshold is
set, when the generator's own mean token log-probability for the query passes it (the InPars-v1
score; it needs ``logprobs: true`` in the job's params). Repeats of an earlier query of the
same item are dropped. Every query is stored, kept or not, with the reason, in
``synthetic_query_checks`` (read through the ``synthetic_queries`` view).

Example:
    >>> cfg = QueryFilterOptions(top_k=2)
    >>> decide(["red shoe", "Red  shoe", "hat"], [1, 1, 5], [None, None, None], cfg)
    [(True, 'bm25 rank 1 ≤ 2'), (False, 'duplicate of query 0'), (False, 'bm25 rank 5 > 2')]
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from enrich.tasks.common import replace_run_rows

if TYPE_CHECKING:
    from enrich.store import Store


class QueryFilterOptions(BaseModel):
    """How generated queries are checked (``task_options.filter``)."""

    model_config = ConfigDict(extra="forbid")

    retriever: Literal["bm25", "biencoder"] = Field(
        default="bm25", description="bm25 (bm25s, stemmed) or biencoder (all-MiniLM-L6-v2)")
    top_k: int = Field(default=3, ge=1, description="keep when the item ranks this high")
    min_llm_score: float | None = Field(
        default=None, le=0.0, description="also keep when the mean token log-prob of the query "
                                          "is at least this (needs params.logprobs: true)")
    encoder: str | None = Field(default=None, description="bi-encoder folder (default MiniLM)")
    depth: int = Field(default=100, ge=1, description="ranks below this are not computed")


def _norm(query: str) -> str:
    return " ".join(query.lower().split())


def decide(queries: Sequence[str], ranks: Sequence[int | None],
           scores: Sequence[float | None], cfg: QueryFilterOptions
           ) -> list[tuple[bool, str]]:
    """(kept, reason) for each query of one item."""
    decisions: list[tuple[bool, str]] = []
    first_seen: dict[str, int] = {}
    name = cfg.retriever
    for index, (query, rank, score) in enumerate(zip(queries, ranks, scores, strict=True)):
        key = _norm(query)
        if key in first_seen:
            decisions.append((False, f"duplicate of query {first_seen[key]}"))
            continue
        first_seen[key] = index
        ranked = f"{name} rank {rank}" if rank is not None else f"not in {name} top {cfg.depth}"
        if rank is not None and rank <= cfg.top_k:
            decisions.append((True, f"{ranked} ≤ {cfg.top_k}"))
            continue
        miss = f"{ranked} > {cfg.top_k}" if rank is not None else ranked
        if cfg.min_llm_score is None:
            decisions.append((False, miss))
        elif score is None:
            decisions.append((False, f"{miss}; no llm score (run without logprobs)"))
        elif score >= cfg.min_llm_score:
            decisions.append((True, f"llm score {score:.2f} ≥ {cfg.min_llm_score:g} ({miss})"))
        else:
            decisions.append((False, f"{miss}; llm score {score:.2f} < {cfg.min_llm_score:g}"))
    return decisions


def run_queries(store: "Store", run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(item id, stored output) of every row of a run that has an output."""
    rows = store.sql("SELECT o.row_id, q.output FROM outputs o JOIN requests q ON q.key = o.key "
                     "WHERE o.run_id = ? ORDER BY o.row_id", [run_id]).fetchall()
    return [(row_id, orjson.loads(output)) for row_id, output in rows]


def check_run(store: "Store", run_id: str, corpus: dict[str, str], cfg: QueryFilterOptions
              ) -> dict[str, int]:
    """Rank, decide and store every generated query of a run (replacing earlier checks).

    Args:
        store: the writable store.
        run_id: the synthetic-queries run.
        corpus: item id → item text, the table the retriever ranks; items of the run missing
            from it are added with their stored ``item_text``.
        cfg: the filter options.

    Returns:
        Counts: ``items``, ``queries``, ``kept``.
    """
    from enrich.store import utcnow
    from enrich.tasks.ranking import build_ranker

    generated = run_queries(store, run_id)
    corpus = dict(corpus)
    for item_id, output in generated:
        corpus.setdefault(item_id, str(output.get("item_text") or ""))
    flat = [(item_id, index, q) for item_id, output in generated
            for index, q in enumerate(output.get("queries") or [])]
    ranks: list[int | None] = []
    if flat:
        ranker = build_ranker(cfg.retriever, list(corpus), list(corpus.values()), cfg.encoder)
        ranks = ranker.ranks([q["query"] for _, _, q in flat], [i for i, _, _ in flat],
                             cfg.depth)
    rows, now, start = [], utcnow(), 0
    for item_id, output in generated:
        queries = output.get("queries") or []
        stop = start + len(queries)
        decisions = decide([q["query"] for q in queries], ranks[start:stop],
                           [q.get("llm_score") for q in queries], cfg)
        for index, (q, (kept, reason)) in enumerate(zip(queries, decisions, strict=True)):
            rows.append({"run_id": run_id, "item_id": item_id, "query_index": index,
                         "query": q["query"], "kind": q.get("kind"), "kept": kept,
                         "reason": reason, "rank": ranks[start + index],
                         "retriever": cfg.retriever, "top_k": cfg.top_k,
                         "llm_score": q.get("llm_score"), "created_at": now})
        start = stop
    replace_run_rows(store, "synthetic_query_checks", run_id, rows)
    return {"items": len(generated), "queries": len(rows),
            "kept": sum(1 for r in rows if r["kept"])}
