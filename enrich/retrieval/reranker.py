"""Reranking with a cross-encoder (a distilled one from ``enrich distill crossencoder``)."""

from dataclasses import replace
from typing import Any

import numpy as np

from enrich.retrieval.hit import SearchHit
from enrich.retrieval.threads import set_torch_threads


class Reranker:
    """Score (query, item) pairs with a cross-encoder and reorder hits.

    Args:
        model: a loaded ``CrossEncoder`` or a model folder.
        max_length: truncate query + item to this many tokens (default: the model's).
        batch_size: pairs per forward pass.
        threads: torch threads (None: torch's default).
        int8: run the linear layers in int8 (dynamic quantisation: ≈ 1.4× faster on CPU,
            scores within ≈ 0.01; see :mod:`enrich.retrieval.compact`).
        workers: run the batches on this many threads, each with one torch thread, instead
            of one batch at a time on ``threads`` torch threads (small batches parallelise
            poorly inside an operator; whole batches side by side do; same scores).

    Example:
        >>> reranker = Reranker("models/ce")                                  # doctest: +SKIP
        >>> reranker.rerank("cordless drill", retriever.search("drill", 100))[:3]  # doctest: +SKIP
    """

    def __init__(self, model: Any, max_length: int | None = None, batch_size: int = 16,
                 threads: int | None = None, int8: bool = False, workers: int = 1):
        from enrich.retrieval.compact import quantize_int8
        from enrich.retrieval.encoder import load_cross_encoder

        self.model, self.model_name = load_cross_encoder(model, max_length)
        if int8:
            self.model = quantize_int8(self.model)
        self.batch_size = batch_size
        self.threads = threads
        self.workers = workers
        self._pool: Any = None

    def score(self, query: str, texts: list[str]) -> np.ndarray:
        """Relevance scores in (0, 1) for ``query`` against each text (same order)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        # longest first, so each batch pads to similar lengths (a batch pads to its longest)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        if self.workers > 1 and hasattr(self.model, "tokenizer"):
            scores = self._side_by_side(query, [texts[i] for i in order])
        else:
            set_torch_threads(self.threads)
            scores = self.model.predict([(query, texts[i]) for i in order],
                                        batch_size=self.batch_size, show_progress_bar=False,
                                        convert_to_numpy=True)
        result = np.empty(len(texts), dtype=np.float32)
        result[order] = scores
        return result

    def _side_by_side(self, query: str, texts: list[str]) -> np.ndarray:
        """Batches tokenised here (the tokenizer is not thread-safe), scored on ``workers``
        threads with one torch thread each; the model's own activation on the logits."""
        from concurrent.futures import ThreadPoolExecutor

        import torch

        set_torch_threads(1)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rerank")
        model, size = self.model, self.batch_size
        limit = getattr(model, "max_length", None) or 512
        batches = [model.tokenizer([query] * len(part), part, padding=True, truncation=True,
                                   max_length=limit, return_tensors="pt")
                   for part in (texts[i:i + size] for i in range(0, len(texts), size))]

        def forward(features: Any) -> np.ndarray:
            with torch.inference_mode():
                logits = model.model(**features).logits.view(-1)
                return model.activation_fn(logits).float().numpy()

        return np.concatenate(list(self._pool.map(forward, batches)))

    def rerank(self, query: str, hits: list[SearchHit], k: int | None = None,
               blend: float | None = None) -> list[SearchHit]:
        """Reorder ``hits`` by cross-encoder score (or by a blend with the first stage's).

        Args:
            query: the query text.
            hits: first-stage candidates.
            k: keep only the best ``k`` (default all).
            blend: None ranks by the cross-encoder alone. A weight ``w`` in [0, 1] ranks by
                ``w · cross-encoder + (1 − w) · first stage``, the first stage's scores scaled
                to [0, 1] over these candidates (interpolation: the usual guard when the
                cross-encoder is weaker out of its training domain than the first stage).

        Returns:
            New hits, best first, with ``score`` = the ranking score and the first-stage score
            kept in ``metadata["retrieval_score"]`` (and its rank in ``retrieval_rank``; with a
            blend, the cross-encoder's own score in ``metadata["rerank_score"]``).
        """
        scores = self.score(query, [h.text for h in hits])
        extra: list[dict[str, float]] = [{} for _ in hits]
        if blend is not None and hits:
            extra = [{"rerank_score": float(s)} for s in scores]
            scores = blended(scores, [h.score for h in hits], blend)
        order = np.argsort(-scores, kind="stable")[: k if k is not None else len(hits)]
        return [replace(hits[i], score=float(scores[i]), rank=rank,
                        metadata={**hits[i].metadata, "retrieval_score": hits[i].score,
                                  "retrieval_rank": hits[i].rank, **extra[i]})
                for rank, i in enumerate(order, start=1)]


def blended(rerank_scores: np.ndarray, first_stage: list[float], weight: float) -> np.ndarray:
    """``weight · rerank_scores + (1 − weight) · first_stage``, the first stage min-max scaled
    to [0, 1] over these candidates.

    Raises:
        ValueError: ``weight`` is outside [0, 1].

    Example:
        >>> [round(x, 3) for x in blended(np.array([0.2, 0.8]), [10.0, 5.0], 0.5).tolist()]
        [0.6, 0.4]
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"blend must be in [0, 1], not {weight}")
    return weight * np.asarray(rerank_scores, dtype=np.float32) + (1.0 - weight) * scaled(
        first_stage)


def scaled(values: list[float]) -> np.ndarray:
    """Min-max scale to [0, 1] (all equal: all 1).

    Example:
        >>> scaled([2.0, 4.0, 3.0]).tolist()
        [0.0, 1.0, 0.5]
    """
    array = np.asarray(values, dtype=np.float32)
    span = float(array.max() - array.min()) if len(array) else 0.0
    return (array - array.min()) / span if span > 0 else np.ones_like(array)
