"""Two-stage search: BM25 or bi-encoder candidates, then an optional cross-encoder rerank."""

from pathlib import Path
from typing import Any, Literal, Protocol

from enrich.retrieval.hit import SearchHit
from enrich.retrieval.reranker import Reranker


class FirstStage(Protocol):
    """Anything that returns candidates for a query (:class:`Retriever`, BM25Retriever)."""

    def search(self, query: str, k: int = 10) -> list[SearchHit]: ...


class Pipeline:
    """Retrieve ``candidates`` items, rerank them, return the best ``k``.

    Args:
        retriever: the first stage.
        reranker: the second stage (None: first-stage order).
        candidates: how many first-stage hits the reranker sees.
        blend: rank by ``blend · cross-encoder + (1 − blend) · first stage`` instead of the
            cross-encoder alone (see :meth:`Reranker.rerank`).

    Example:
        >>> pipeline = Pipeline.from_folder(Path("index"), reranker="models/ce")   # doctest: +SKIP
        >>> pipeline.search("cordless drill", k=5)[0].item_id                      # doctest: +SKIP
        'i1'
    """

    def __init__(self, retriever: FirstStage, reranker: Reranker | None = None,
                 candidates: int = 100, blend: float | None = None):
        self.retriever = retriever
        self.reranker = reranker
        self.candidates = candidates
        self.blend = blend

    @classmethod
    def from_folder(cls, folder: Path, first_stage: Literal["dense", "bm25"] = "dense",
                    reranker: Any = None, candidates: int = 100, model: Any = None,
                    threads: int | None = None, max_length: int | None = None,
                    int8: bool = False, blend: float | str | None = None,
                    workers: int = 1) -> "Pipeline":
        """A pipeline over a saved index.

        Args:
            folder: the index folder (``enrich index build --out``).
            first_stage: ``dense`` (the index's bi-encoder) or ``bm25`` (over the same texts).
            reranker: a cross-encoder folder or a loaded ``CrossEncoder``, or None.
            candidates: first-stage depth.
            model: a bi-encoder to use instead of the index's own.
            threads: torch threads for encoding and reranking.
            max_length: cross-encoder truncation.
            int8: run the cross-encoder's linear layers in int8 (faster on CPU).
            blend: weight of the cross-encoder against the first stage (None: alone), or
                ``"auto"``: the weight the reranker's gain gate found best on its dev split
                (:func:`Pipeline.offered_blend`; 1.0 when its card records none).
            workers: rerank batches on this many threads side by side
                (:class:`~enrich.retrieval.reranker.Reranker`).

        Returns:
            The pipeline.
        """
        from enrich.retrieval.bm25 import BM25Retriever
        from enrich.retrieval.index import ItemIndex
        from enrich.retrieval.retriever import Retriever

        index = ItemIndex.load(folder)
        stage: FirstStage = (BM25Retriever.from_index(index) if first_stage == "bm25"
                             else Retriever(index, model, threads))
        second = (Reranker(reranker, max_length=max_length, threads=threads, int8=int8,
                           workers=workers) if reranker is not None else None)
        weight: float | None
        if isinstance(blend, str):  # "auto"
            offered = cls.offered_blend(reranker)
            weight = offered if offered is not None else 1.0
        else:
            weight = blend
        return cls(stage, second, candidates, weight if weight != 1.0 else None)

    @staticmethod
    def offered_blend(reranker: Any) -> float | None:
        """The blend weight that was best on the reranker's dev split (its model card's gain
        gate), or None when the card records none.

        Example:
            >>> Pipeline.offered_blend("models/ce")       # doctest: +SKIP
            0.5
        """
        from enrich.distill.gate import recommended_blend

        return recommended_blend(reranker)

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """The best ``k`` items for ``query``.

        Returns:
            Hits; when reranked, ``score`` is the cross-encoder's and
            ``metadata["retrieval_score"]`` the first stage's.
        """
        hits = self.retriever.search(query, max(k, self.candidates if self.reranker else k))
        if self.reranker is None:
            return hits[:k]
        return self.reranker.rerank(query, hits, k, self.blend)
