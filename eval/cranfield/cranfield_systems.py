"""The retrieval systems compared on Cranfield, built on ``enrich.retrieval``, scored with ranx.

A run is ``{query id: {doc id: score}}``. Reranked runs reorder the first ``depth`` documents of
a first-stage run by cross-encoder score and keep the rest after them, so recall@100 of a
reranked run equals its first stage's when ``depth`` is 100.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from enrich.retrieval import BM25Retriever, ItemIndex, Reranker, Retriever
from enrich.retrieval.reranker import blended

Run = dict[str, dict[str, float]]
METRICS = ["ndcg@10", "recall@100", "mrr@10"]


def bm25_run(docs: dict[str, str], queries: dict[str, str], k: int = 100) -> Run:
    """BM25 (bm25s, Lucene variant, English stop words, Snowball stemmer)."""
    bm25 = BM25Retriever(list(docs), list(docs.values()))
    hits = bm25.search_many(list(queries.values()), k=k)
    return {qid: {h.item_id: h.score for h in found}
            for qid, found in zip(queries, hits, strict=True)}


def dense_run(docs: dict[str, str], queries: dict[str, str], model: str | None, k: int = 100,
              cache: Path | None = None) -> Run:
    """Cosine search with a bi-encoder (exact; the index is kept in ``cache`` if given)."""
    if cache is not None and (cache / "index.json").is_file():
        index = ItemIndex.load(cache)
    else:
        index = ItemIndex.build(list(docs), list(docs.values()), model=model, batch_size=32)
        if cache is not None:
            index.save(cache)
    hits = Retriever(index, model).search_many(list(queries.values()), k=k)
    return {qid: {h.item_id: h.score for h in found}
            for qid, found in zip(queries, hits, strict=True)}


def cross_encoder_scores(reranker_dir: Path, docs: dict[str, str], queries: dict[str, str],
                         runs: list[Run], depth: int, cache: Path, max_length: int = 256,
                         int8: bool = False) -> dict[tuple[str, str], float]:
    """Cross-encoder scores for the top ``depth`` documents of every run (each pair once).

    Scores are cached in ``cache`` (Parquet) so reranking another run, or rerunning the
    evaluation with the same model, costs nothing.
    """
    known: dict[tuple[str, str], float] = {}
    if cache.is_file():
        frame = pd.read_parquet(cache)
        known = {(q, d): s for q, d, s in zip(frame["qid"], frame["doc_id"], frame["score"],
                                              strict=True)}
    wanted = sorted({(qid, doc) for run in runs for qid, ranked in run.items()
                     for doc in _top(ranked, depth)} - set(known))
    if wanted:
        reranker = Reranker(str(reranker_dir), max_length=max_length, int8=int8)
        by_query: dict[str, list[str]] = {}
        for qid, doc in wanted:
            by_query.setdefault(qid, []).append(doc)
        for qid, doc_ids in tqdm(by_query.items(), desc="cross-encoder", unit="query"):
            scores = reranker.score(queries[qid], [docs[d] for d in doc_ids])
            known.update({(qid, d): float(s) for d, s in zip(doc_ids, scores, strict=True)})
        cache.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([(q, d, s) for (q, d), s in known.items()],
                     columns=["qid", "doc_id", "score"]).to_parquet(cache, index=False)
    return known


def reranked(run: Run, scores: dict[tuple[str, str], float], depth: int,
             blend: float | None = None) -> Run:
    """``run`` with its top ``depth`` documents reordered by ``scores`` (or, with ``blend``,
    by ``blend · score + (1 − blend) · first-stage score`` scaled to [0, 1] over the top
    ``depth``, as :meth:`enrich.retrieval.Reranker.rerank` does)."""
    out: Run = {}
    for qid, ranked in run.items():
        top = _top(ranked, depth)
        rest = [d for d in _top(ranked, len(ranked)) if d not in set(top)]
        new = [scores[(qid, d)] for d in top]
        if blend is not None and top:
            new = blended(np.asarray(new), [ranked[d] for d in top], blend).tolist()
        out[qid] = {d: 2.0 + s for d, s in zip(top, new, strict=True)}
        out[qid].update({d: 1.0 / (n + 2) for n, d in enumerate(rest)})
    return out


def evaluate(qrels: dict[str, dict[str, int]], runs: dict[str, Run]) -> dict[str, dict]:
    """nDCG@10 (graded gains), recall@100 and MRR@10 of each run, with ranx."""
    from ranx import Qrels
    from ranx import Run as RanxRun
    from ranx import evaluate as ranx_evaluate

    qrels_ = Qrels(qrels)
    return {name: {m: round(float(v), 4) for m, v in
                   ranx_evaluate(qrels_, RanxRun(run, name=name), METRICS).items()}
            for name, run in runs.items()}


def _top(ranked: dict[str, float], depth: int) -> list[str]:
    return [d for d, _ in sorted(ranked.items(), key=lambda kv: -kv[1])[:depth]]
