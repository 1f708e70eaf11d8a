"""Scores of (query, title) pairs from several systems, and their agreement with people.

Metrics: ROC AUC for "bad" (mean rating < 2.0, higher score = less bad; the project's one
implementation, :func:`enrich.evaluate.metrics.roc_auc`) with a bootstrap interval over
queries, Spearman correlation with the mean rating (pooled over pairs), and mean per-query
nDCG@10 with gain = rating − 1.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from enrich.evaluate.bootstrap import bootstrap
from enrich.evaluate.metrics import roc_auc

BAD_BELOW = 2.0


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", str(text).lower()))


def overlap_scores(pairs: pd.DataFrame) -> np.ndarray:
    """Share of query words that appear in the title."""
    return np.array([len(_words(q) & _words(t)) / max(1, len(_words(q)))
                     for q, t in zip(pairs["search_term"], pairs["product_title"], strict=True)])


def cosine_scores(pairs: pd.DataFrame, model: str | None) -> np.ndarray:
    """Bi-encoder cosine similarity (all-MiniLM-L6-v2 when ``model`` is None)."""
    from enrich.retrieval.encoder import load_bi_encoder

    encoder, _ = load_bi_encoder(model)
    queries = encoder.encode_query(pairs["search_term"].tolist(), batch_size=64,
                                   normalize_embeddings=True, show_progress_bar=True)
    titles = encoder.encode_document(pairs["product_title"].tolist(), batch_size=64,
                                     normalize_embeddings=True, show_progress_bar=True)
    return (queries * titles).sum(axis=1)


def cross_encoder_scores(pairs: pd.DataFrame, model: str | Path | None,
                         max_length: int = 64) -> np.ndarray:
    """Cross-encoder scores (MiniLM with an untrained head when ``model`` is None)."""
    import torch

    from enrich.retrieval.encoder import load_cross_encoder

    torch.manual_seed(0)
    encoder, _ = load_cross_encoder(str(model) if model else None, max_length)
    return np.asarray(encoder.predict(list(zip(pairs["search_term"], pairs["product_title"],
                                               strict=True)),
                                      batch_size=64, show_progress_bar=True))


def ndcg_at_10(ratings: np.ndarray, scores: np.ndarray) -> float:
    """nDCG@10 of one query's candidates, gain = rating − 1."""
    gains = ratings - 1.0
    order = np.argsort(-scores, kind="stable")[:10]
    ideal = np.sort(gains)[::-1][:10]
    discount = 1.0 / np.log2(np.arange(2, 12))
    best = float((ideal * discount[: len(ideal)]).sum())
    return float((gains[order] * discount[: len(order)]).sum()) / best if best > 0 else 1.0


def auc_bad(pairs: pd.DataFrame, scores: np.ndarray, resamples: int = 1000) -> dict:
    """AUC of ``scores`` (higher = better match) for the human "bad" label, with a bootstrap
    interval over queries (an :class:`~enrich.evaluate.bootstrap.Estimate` as a dict)."""
    bad = pairs["relevance"].to_numpy(dtype=float) < BAD_BELOW
    return bootstrap(roc_auc, bad, -np.asarray(scores, dtype=float), resamples=resamples,
                     groups=pairs["search_term"].astype(str).tolist()).to_dict()


def agreement(pairs: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    """AUC (bad), Spearman and mean per-query nDCG@10 of ``scores`` against human ratings."""
    ratings = pairs["relevance"].to_numpy(dtype=float)
    bad = ratings < BAD_BELOW
    frame = pd.DataFrame({"q": pairs["search_term"].to_numpy(), "r": ratings, "s": scores})
    per_query = [ndcg_at_10(g["r"].to_numpy(), g["s"].to_numpy())
                 for _, g in frame.groupby("q", sort=False)]
    return {"auc_bad": round(float(roc_auc(bad, -np.asarray(scores, dtype=float))), 4),
            "auc_ci": auc_bad(pairs, scores),
            "spearman": round(float(spearmanr(scores, ratings).statistic), 4),
            "ndcg@10": round(float(np.mean(per_query)), 4),
            "pairs": int(len(pairs)), "queries": int(frame["q"].nunique())}


def random_ndcg(pairs: pd.DataFrame, seed: int = 0) -> float:
    """Mean per-query nDCG@10 of a random order (how flat the metric is here)."""
    rng = np.random.default_rng(seed)
    return agreement(pairs, rng.random(len(pairs)))["ndcg@10"]


def teacher_scores(pairs: pd.DataFrame, teacher: str, llm: object = None) -> np.ndarray:
    """A teacher's grade of every pair (enrich.distill.teachers): each query's titles form
    one group; BM25 statistics come from the titles of ``pairs``."""
    from enrich.distill.teachers import build_teacher

    ids = [str(i) for i in range(len(pairs))]
    grader = build_teacher(teacher, dict(zip(ids, pairs["product_title"].astype(str),
                                             strict=True)), llm=llm)
    groups = [(str(q), [str(i) for i in idx]) for q, idx in
              pairs.reset_index(drop=True).groupby("search_term", sort=False).groups.items()]
    out = np.zeros(len(pairs))
    for (_, members), values in zip(groups, grader.score_groups(groups), strict=True):
        out[[int(m) for m in members]] = values
    return out
