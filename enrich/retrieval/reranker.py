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

    Example:
        >>> reranker = Reranker("models/ce")                                  # doctest: +SKIP
        >>> reranker.rerank("cordless drill", retriever.search("drill", 100))[:3]  # doctest: +SKIP
    """

    def __init__(self, model: Any, max_length: int | None = None, batch_size: int = 16,
                 threads: int | None = None, int8: bool = False):
        from enrich.retrieval.compact import quantize_int8
        from enrich.retrieval.encoder import load_cross_encoder

        self.model, self.model_name = load_cross_encoder(model, max_length)
        if int8:
            self.model = quantize_int8(self.model)
        self.batch_size = batch_size
        self.threads = threads

    def score(self, query: str, texts: list[str]) -> np.ndarray:
        """Relevance scores in (0, 1) for ``query`` against each text (same order)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        set_torch_threads(self.threads)
        # longest first, so each batch pads to similar lengths (a batch pads to its longest)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        scores = self.model.predict([(query, texts[i]) for i in order],
                                    batch_size=self.batch_size, show_progress_bar=False,
                                    convert_to_numpy=True)
        result = np.empty(len(texts), dtype=np.float32)
        result[order] = scores
        return result

    def rerank(self, query: str, hits: list[SearchHit], k: int | None = None
               ) -> list[SearchHit]:
        """Reorder ``hits`` by cross-encoder score.

        Args:
            query: the query text.
            hits: first-stage candidates.
            k: keep only the best ``k`` (default all).

        Returns:
            New hits, best first, with ``score`` = cross-encoder score and the first-stage score
            kept in ``metadata["retrieval_score"]`` (and its rank in ``retrieval_rank``).
        """
        scores = self.score(query, [h.text for h in hits])
        order = np.argsort(-scores, kind="stable")[: k if k is not None else len(hits)]
        return [replace(hits[i], score=float(scores[i]), rank=rank,
                        metadata={**hits[i].metadata, "retrieval_score": hits[i].score,
                                  "retrieval_rank": hits[i].rank})
                for rank, i in enumerate(order, start=1)]
