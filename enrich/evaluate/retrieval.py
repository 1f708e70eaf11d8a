"""Retrieval metrics (nDCG@k, recall@k, MRR) per query, and the retrievers evaluated.

Qrels map query id → {doc id: graded gain}; a run maps query id → {doc id: score}. Metrics are
computed per query by pytrec_eval (or ranx) so they can be bootstrapped over queries; nDCG uses
the gain as is (trec_eval's ``ndcg_cut``, as in the project's Cranfield baselines: gain =
5 − code).

Example:
    >>> per_query({"q": {"d1": 1}}, {"q": {"d1": 0.9, "d2": 0.5}}, ["mrr"])["mrr"].tolist()
    [1.0]
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from enrich.errors import ConfigError

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]
_TREC = {"ndcg": "ndcg_cut", "recall": "recall", "precision": "P", "map": "map_cut",
         "mrr": "recip_rank"}


def _parse(name: str) -> tuple[str, int | None]:
    base, _, k = name.partition("@")
    if base not in _TREC or (k and not k.isdigit()) or (base != "mrr" and not k):
        raise ConfigError(f"unknown retrieval metric `{name}`",
                          "use ndcg@K, recall@K, precision@K, map@K or mrr")
    return base, int(k) if k else None


def per_query(qrels: Qrels, run: Run, metrics: list[str]) -> pd.DataFrame:
    """One row per judged query, one column per metric (queries the run misses score 0).

    Uses pytrec_eval (trec_eval's C code); falls back to ranx when it is not installed.
    """
    judged = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items()
              if any(g > 0 for g in docs.values())}
    if not judged:
        raise ConfigError("the qrels hold no relevant document", "check the qrels file")
    parsed = [_parse(m) for m in metrics]
    filled = {q: (run.get(q) or {"__none__": 0.0}) for q in judged}
    try:
        import pytrec_eval
    except ImportError:
        return _per_query_ranx(judged, filled, metrics)
    measures = {f"{_TREC[base]}.{k}" if k else _TREC[base] for base, k in parsed}
    scores = pytrec_eval.RelevanceEvaluator(judged, measures).evaluate(filled)
    rows = []
    for q in judged:
        row: dict[str, Any] = {"query_id": q}
        for name, (base, k) in zip(metrics, parsed, strict=True):
            key = _TREC[base] + (f"_{k}" if k else "")
            row[name] = float(scores.get(q, {}).get(key, 0.0))
        rows.append(row)
    return pd.DataFrame(rows)


def _per_query_ranx(judged: Qrels, run: Run, metrics: list[str]) -> pd.DataFrame:
    from ranx import Qrels as RQrels
    from ranx import Run as RRun
    from ranx import evaluate

    names = list(metrics)
    scores = evaluate(RQrels(judged), RRun(run), names, return_mean=False,
                      make_comparable=True)
    if len(names) == 1:
        scores = {names[0]: scores}
    frame = pd.DataFrame({m: np.asarray(scores[m], dtype=float) for m in metrics})
    frame.insert(0, "query_id", list(judged))
    return frame


def bm25_retriever(corpus: dict[str, str], k: int = 100) -> Callable[[dict[str, str]], Run]:
    """The product's BM25 (:class:`enrich.retrieval.BM25Retriever`) as a run producer.

    Args:
        corpus: doc id → text.
        k: documents returned per query.

    Example:
        >>> search = bm25_retriever({"1": "shock waves", "2": "heat flux"}, k=1)  # doctest: +SKIP
        >>> search({"q": "heat"})                                                # doctest: +SKIP
        {'q': {'2': 0.69}}
    """
    from enrich.retrieval import BM25Retriever

    index = BM25Retriever(list(corpus), list(corpus.values()))

    def search(queries: dict[str, str]) -> Run:
        hits = index.search_many(list(queries.values()), k=k)
        return {q: {h.item_id: h.score for h in found}
                for q, found in zip(queries, hits, strict=True)}

    return search


def bi_encoder_retriever(model: str, corpus: dict[str, str], k: int = 100,
                         batch_size: int = 32, show_progress: bool = False
                         ) -> Callable[[dict[str, str]], Run]:
    """The product's exact dense search (:class:`enrich.retrieval.Retriever` over an
    :class:`~enrich.retrieval.ItemIndex`) with a local sentence-transformers bi-encoder.

    Args:
        model: ``all-MiniLM-L6-v2`` (the packaged base model) or a local model folder, e.g. a
            model trained by ``enrich distill``. Nothing is downloaded.
        corpus: doc id → text.
        k: documents returned per query.
        show_progress: a progress bar while the corpus is encoded.
    """
    from enrich.retrieval import ItemIndex, Retriever
    from enrich.retrieval.encoder import load_bi_encoder

    encoder, name = load_bi_encoder(model)
    texts = list(corpus.values())
    vectors = encoder.encode_document(texts, batch_size=batch_size, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=show_progress)
    retriever = Retriever(ItemIndex(list(corpus), texts, vectors, name, ann=False), encoder)

    def search(queries: dict[str, str]) -> Run:
        hits = retriever.search_many(list(queries.values()), k=k)
        return {q: {h.item_id: h.score for h in found}
                for q, found in zip(queries, hits, strict=True)}

    return search


def rerank_top(run: Run, scores: Callable[[str, list[str]], Any], depth: int) -> Run:
    """``run`` with each query's top ``depth`` documents reordered by ``scores(qid, docs)``.

    The reranked documents keep their place above the rest of the run (recall at a depth
    beyond ``depth`` is the first stage's).

    Example:
        >>> rerank_top({"q": {"a": 3.0, "b": 2.0, "c": 1.0}}, lambda q, d: [0.0, 1.0], 2)["q"]
        {'b': 3.0, 'a': 2.0, 'c': 0.5}
    """
    out: Run = {}
    for qid, ranked in run.items():
        order = sorted(ranked, key=lambda d: -ranked[d])
        top, rest = order[:depth], order[depth:]
        new = np.asarray(scores(qid, top), dtype=np.float64)
        placed = np.argsort(-new, kind="stable")
        out[qid] = {top[i]: float(len(top) - n + 1) for n, i in enumerate(placed)}
        out[qid].update({d: 1.0 / (n + 2) for n, d in enumerate(rest)})
    return out


def metric_estimate(qrels: Qrels, run: Run, metric: str = "ndcg@10", resamples: int = 1000,
                    seed: int = 0) -> Any:
    """A metric of a run with its bootstrap interval over queries.

    Returns:
        An :class:`enrich.evaluate.bootstrap.Estimate` (mean over the judged queries).
    """
    from enrich.evaluate.bootstrap import bootstrap

    values = per_query(qrels, run, [metric])[metric].to_numpy()
    return bootstrap(np.mean, values, resamples=resamples, seed=seed)


def gain_estimate(qrels: Qrels, base: Run, new: Run, metric: str = "ndcg@10",
                  resamples: int = 1000, seed: int = 0) -> Any:
    """``metric(new) − metric(base)`` on the same queries, with a paired bootstrap interval.

    Returns:
        An :class:`enrich.evaluate.bootstrap.Estimate`; an interval above 0 means ``new`` is
        better at that level.
    """
    from enrich.evaluate.bootstrap import paired_difference

    a = per_query(qrels, base, [metric])[metric].to_numpy()
    b = per_query(qrels, new, [metric])[metric].to_numpy()
    return paired_difference(np.mean, [a], [b], resamples=resamples, seed=seed)
