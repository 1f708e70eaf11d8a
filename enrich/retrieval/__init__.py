"""Retrieval and ranking with distilled models: index, search, rerank, LangChain.

Public API (imported lazily: ``import enrich.retrieval`` loads neither torch nor usearch)::

    from enrich.retrieval import ItemIndex, Retriever, BM25Retriever, Reranker, Pipeline
    from enrich.retrieval import EnrichRetriever, EnrichReranker   # LangChain

Example:
    >>> from enrich.retrieval import ItemIndex, Pipeline                     # doctest: +SKIP
    >>> ItemIndex.build(ids, texts, model="models/bi").save(Path("index"))   # doctest: +SKIP
    >>> pipeline = Pipeline.from_folder(Path("index"), reranker="models/ce")  # doctest: +SKIP
    >>> for hit in pipeline.search("cordless drill", k=5):                   # doctest: +SKIP
    ...     print(hit.rank, hit.item_id, round(hit.score, 3))
"""

import importlib
from typing import Any

_EXPORTS = {
    "SearchHit": "enrich.retrieval.hit",
    "ItemIndex": "enrich.retrieval.index",
    "Retriever": "enrich.retrieval.retriever",
    "BM25Retriever": "enrich.retrieval.bm25",
    "Reranker": "enrich.retrieval.reranker",
    "Pipeline": "enrich.retrieval.pipeline",
    "EnrichRetriever": "enrich.retrieval.langchain",
    "EnrichReranker": "enrich.retrieval.langchain",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'enrich.retrieval' has no attribute {name!r}")
