"""The retrieval systems compared on Cranfield, built on ``enrich.retrieval``, scored with
pytrec_eval (trec_eval's nDCG with graded gains) and bootstrap intervals over queries.

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
    """Cosine search with a bi-encoder (exact; corpus vectors kept in ``cache`` if given, shared
    with the gain gates and teachers through :mod:`enrich.retrieval.vectors`)."""
    from enrich.retrieval.encoder import load_bi_encoder
    from enrich.retrieval.vectors import corpus_vectors, model_key

    encoder, name = load_bi_encoder(model)
    vectors = corpus_vectors(encoder, model_key(model), list(docs.values()), cache)
    index = ItemIndex(list(docs), list(docs.values()), vectors, name)
    hits = Retriever(index, encoder).search_many(list(queries.values()), k=k)
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


def rrf_run(*runs: Run, k: int = 60, depth: int = 100) -> Run:
    """Reciprocal-rank fusion: each document scores Σ 1 / (k + rank) over the runs' top
    ``depth`` (Cormack et al., 2009); no training, no score scales."""
    fused: Run = {}
    for run in runs:
        for qid, ranked in run.items():
            scores = fused.setdefault(qid, {})
            for rank, doc in enumerate(_top(ranked, depth), start=1):
                scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return fused


def evaluate(qrels: dict[str, dict[str, int]], runs: dict[str, Run], base: str | None = None,
             resamples: int = 1000) -> dict[str, dict]:
    """nDCG@10 (graded gains, with a bootstrap interval over queries), recall@100 and MRR@10
    of each run, and its nDCG@10 gain over ``base`` with a paired interval (pytrec_eval)."""
    from enrich.evaluate.retrieval import gain_estimate, metric_estimate, per_query

    out = {}
    for name, run in runs.items():
        means = per_query(qrels, run, ["ndcg@10", "recall@100"]).mean(numeric_only=True)
        row = {m: round(float(means[m]), 4) for m in ("ndcg@10", "recall@100")}
        row["mrr@10"] = round(mrr_at(qrels, run, 10), 4)
        row["ndcg@10_ci"] = metric_estimate(qrels, run, "ndcg@10", resamples).to_dict()
        if base is not None and name != base:
            row["gain"] = gain_estimate(qrels, runs[base], run, "ndcg@10", resamples).to_dict()
        out[name] = row
    return out


def mrr_at(qrels: dict[str, dict[str, int]], run: Run, k: int = 10) -> float:
    """Mean reciprocal rank of the first relevant document in the top ``k`` (judged queries).

    Example:
        >>> mrr_at({"q": {"b": 2}}, {"q": {"a": 2.0, "b": 1.0}})
        0.5
    """
    values = []
    for qid, judged in qrels.items():
        top = _top(run.get(qid, {}), k)
        values.append(next((1.0 / r for r, d in enumerate(top, 1) if judged.get(d, 0) > 0),
                           0.0))
    return sum(values) / len(values) if values else 0.0


def _top(ranked: dict[str, float], depth: int) -> list[str]:
    return [d for d, _ in sorted(ranked.items(), key=lambda kv: -kv[1])[:depth]]


def teacher_run(teacher: str, cran, run: Run, depth: int, cache: Path | None = None) -> Run:
    """``run`` with its top ``depth`` reordered by a teacher (no LLM teachers here: they are
    measured on a subset by ``teacher_eval.py``)."""
    from enrich.distill.teachers import build_teacher
    from enrich.evaluate.retrieval import rerank_top

    grader = build_teacher(teacher, cran.docs, cache_dir=cache)
    return rerank_top(run, lambda qid, docs: grader.score_groups(
        [(cran.queries[qid], docs)])[0].tolist(), depth)
