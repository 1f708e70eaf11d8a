"""Where an item ranks for a query: BM25 (bm25s) or the base bi-encoder, for task filters.

Both rankers are built over a whole item table and answer "at which rank does item X come
for query Q" for many (query, item) pairs at once. Heavy libraries (bm25s, torch) are imported
only when a ranker is built.

Example:
    >>> ranker = BM25Ranker(["a", "b"], ["cordless drill 20v", "bath mat cotton"])
    >>> ranker.ranks(["20v drill", "towel"], ["a", "b"])
    [1, None]
"""

from collections.abc import Sequence
from typing import Protocol


class ItemRanker(Protocol):
    """Ranks of target items for queries over one item table (ties share the best rank)."""

    name: str

    def ranks(self, queries: Sequence[str], targets: Sequence[str], depth: int = 100
              ) -> list[int | None]:
        """1-based rank of ``targets[i]`` for ``queries[i]``; None when below ``depth``."""
        ...


class BM25Ranker:
    """BM25 (Lucene variant, English stop words, Snowball stemmer) over item texts.

    An item with BM25 score 0 for a query (no shared term) is not ranked at all; tied items
    share the best rank (1 + the number of items scoring strictly higher).

    Args:
        ids: item ids.
        texts: item texts, one per id.
    """

    name = "bm25"

    def __init__(self, ids: Sequence[str], texts: Sequence[str]):
        from enrich.retrieval.bm25 import BM25Retriever

        self.retriever = BM25Retriever(list(ids), list(texts))

    def ranks(self, queries: Sequence[str], targets: Sequence[str], depth: int = 100
              ) -> list[int | None]:
        ranks: list[int | None] = []
        results = self.retriever.search_many(list(queries), k=depth)
        for hits, target in zip(results, targets, strict=True):
            score = next((hit.score for hit in hits if hit.item_id == str(target)), None)
            ranks.append(None if score is None else 1 + sum(h.score > score for h in hits))
        return ranks

    def top(self, query: str, k: int) -> list[tuple[str, str]]:
        """The ``k`` best (id, text) for a query (items sharing no term are left out)."""
        return [(hit.item_id, hit.text) for hit in self.retriever.search(query, k=k)]


class BiEncoderRanker:
    """Cosine similarity under a sentence-transformers bi-encoder (default all-MiniLM-L6-v2).

    Args:
        ids: item ids.
        texts: item texts.
        model: a local model folder, or None for the packaged all-MiniLM-L6-v2.
    """

    name = "biencoder"

    def __init__(self, ids: Sequence[str], texts: Sequence[str], model: str | None = None):
        from enrich.retrieval.encoder import load_bi_encoder

        self.encoder, self.model_name = load_bi_encoder(model)
        self.ids = [str(i) for i in ids]
        self._position = {item_id: i for i, item_id in enumerate(self.ids)}
        self.vectors = self.encoder.encode(list(texts), batch_size=64,
                                           normalize_embeddings=True, show_progress_bar=False)

    def ranks(self, queries: Sequence[str], targets: Sequence[str], depth: int = 100
              ) -> list[int | None]:
        if not queries:
            return []
        encoded = self.encoder.encode(list(queries), batch_size=64, normalize_embeddings=True,
                                      show_progress_bar=False)
        scores = encoded @ self.vectors.T
        ranks: list[int | None] = []
        for row, target in enumerate(targets):
            column = self._position.get(str(target))
            if column is None:
                ranks.append(None)
                continue
            rank = 1 + int((scores[row] > scores[row, column]).sum())
            ranks.append(rank if rank <= depth else None)
        return ranks


def build_ranker(kind: str, ids: Sequence[str], texts: Sequence[str],
                 model: str | None = None) -> ItemRanker:
    """A ranker by name: ``bm25`` or ``biencoder``."""
    if kind == "biencoder":
        return BiEncoderRanker(ids, texts, model)
    return BM25Ranker(ids, texts)
