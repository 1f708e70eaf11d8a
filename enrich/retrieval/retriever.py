"""Dense retrieval: encode the query with a bi-encoder, search an :class:`ItemIndex`."""

from pathlib import Path
from typing import Any

import numpy as np

from enrich.retrieval.hit import SearchHit
from enrich.retrieval.index import ItemIndex
from enrich.retrieval.threads import set_torch_threads


class Retriever:
    """Bi-encoder retrieval over an item index.

    Args:
        index: the item index.
        model: a loaded ``SentenceTransformer`` or a model folder; default: the model the
            index was built with (queries must be encoded by the same model as the items).
        threads: torch threads for query encoding (None: torch's default). Search always caps
            BLAS to one thread.
        int8: encode queries with int8 linear layers (≈ 2× less CPU per query; the query
            vectors move away from the fp32 item vectors, so measure the quality loss first:
            bench/RETRIEVAL.md).

    Example:
        >>> retriever = Retriever.from_folder(Path("index"))                 # doctest: +SKIP
        >>> [h.item_id for h in retriever.search("cordless drill", k=3)]     # doctest: +SKIP
        ['i1', 'i9', 'i11']
    """

    def __init__(self, index: ItemIndex, model: Any = None, threads: int | None = None,
                 int8: bool = False):
        from enrich.retrieval.encoder import fast_query_encoder, load_bi_encoder

        self.index = index
        self.threads = threads
        self.encoder, self.model_name = load_bi_encoder(model if model is not None
                                                        else index.model)
        self.int8 = int8
        self._fast = fast_query_encoder(self.encoder, int8)

    @classmethod
    def from_folder(cls, folder: Path, model: Any = None, threads: int | None = None
                    ) -> "Retriever":
        """Load a saved index and its bi-encoder."""
        return cls(ItemIndex.load(folder), model, threads)

    def encode(self, queries: list[str]) -> np.ndarray:
        """L2-normalised query vectors, ``(len(queries), dim)``."""
        set_torch_threads(self.threads)
        if self._fast is not None:
            return np.concatenate([self._fast(queries[i:i + 64])
                                   for i in range(0, len(queries), 64)])
        return self.encoder.encode_query(queries, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False,
                                         batch_size=64)

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """The ``k`` items nearest to one query (cosine similarity, best first).

        Args:
            query: the query text.
            k: how many results.

        Returns:
            Hits with ``score`` = cosine similarity.
        """
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 10) -> list[list[SearchHit]]:
        """:meth:`search` for a batch of queries (one encode call)."""
        if not queries:
            return []
        scores, positions = self.index.search(self.encode(queries), k)
        return [self._hits(s, p) for s, p in zip(scores, positions, strict=True)]

    def _hits(self, scores: np.ndarray, positions: np.ndarray) -> list[SearchHit]:
        index = self.index
        return [SearchHit(index.ids[p], index.texts[p], float(s), rank, dict(index.metadata[p]))
                for rank, (s, p) in enumerate(zip(scores, positions, strict=True), start=1)
                if p >= 0]
