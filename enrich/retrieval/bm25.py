"""Lexical retrieval with bm25s (Lucene BM25, English stop words, Snowball stemmer)."""

from collections.abc import Sequence
from typing import Any

from enrich.retrieval.hit import SearchHit
from enrich.retrieval.index import ItemIndex


class BM25Retriever:
    """BM25 over item texts, built in memory (about a second for 10k items).

    Args:
        ids: item ids.
        texts: item texts.
        metadata: one dict per item.
        language: Snowball stemmer and stop-word language.

    Example:
        >>> bm25 = BM25Retriever(["a", "b"], ["red running shoe", "blue sun hat"])
        >>> [h.item_id for h in bm25.search("running shoes", k=1)]
        ['a']
    """

    def __init__(self, ids: Sequence[str], texts: Sequence[str],
                 metadata: Sequence[dict[str, Any]] | None = None, language: str = "english"):
        import bm25s
        import Stemmer

        self.ids = [str(i) for i in ids]
        self.texts = list(texts)
        self.metadata = list(metadata) if metadata is not None else [{} for _ in self.ids]
        self._stemmer = Stemmer.Stemmer(language)
        self._stopwords = "en" if language == "english" else language
        self._bm25 = bm25s.BM25(method="lucene")
        self._bm25.index(self._tokenize(self.texts), show_progress=False)

    @classmethod
    def from_index(cls, index: ItemIndex) -> "BM25Retriever":
        """BM25 over the texts of a vector index (same ids and metadata)."""
        return cls(index.ids, index.texts, index.metadata)

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(texts, stopwords=self._stopwords, stemmer=self._stemmer,
                              return_ids=False, show_progress=False)

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """The best ``k`` items for a query by BM25 (items with score 0 are left out).

        Args:
            query: the query text.
            k: how many results at most.

        Returns:
            Hits with ``score`` = BM25 score.
        """
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 10) -> list[list[SearchHit]]:
        """:meth:`search` for a batch of queries."""
        tokens = self._tokenize(queries)
        k = min(k, len(self.ids))
        results: list[list[SearchHit]] = [[] for _ in queries]
        asked = [i for i, t in enumerate(tokens) if t]
        if not asked or k == 0:
            return results
        docs, scores = self._bm25.retrieve([tokens[i] for i in asked], k=k, show_progress=False,
                                           n_threads=0)
        for row, i in enumerate(asked):
            results[i] = [SearchHit(self.ids[d], self.texts[d], float(s), rank,
                                    dict(self.metadata[d]))
                          for rank, (d, s) in enumerate(zip(docs[row], scores[row], strict=True),
                                                        start=1) if s > 0]
        return results
