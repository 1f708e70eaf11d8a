"""LangChain integration: a retriever over an enrich :class:`Pipeline` and a reranking
document compressor over an enrich :class:`Reranker`.

Example:
    >>> from enrich.retrieval import Pipeline
    >>> from enrich.retrieval.langchain import EnrichRetriever, EnrichReranker
    >>> retriever = EnrichRetriever(pipeline=Pipeline.from_folder(Path("index")), k=5)
    ... # doctest: +SKIP
    >>> docs = retriever.invoke("cordless drill")                       # doctest: +SKIP
    >>> docs[0].metadata["item_id"], docs[0].metadata["score"]          # doctest: +SKIP
    ('i1', 0.83)

    With ``langchain_classic.retrievers.ContextualCompressionRetriever`` (or any code that
    calls ``compress_documents``) the reranker reorders documents from any other retriever:
    ``EnrichReranker(reranker=Reranker("models/ce"), top_n=5)``.
"""

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun, Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from enrich.retrieval.hit import SearchHit


def hit_to_document(hit: SearchHit) -> Document:
    """A LangChain ``Document``: the item text, with id, score, rank and item metadata."""
    metadata = {**hit.metadata, "item_id": hit.item_id, "score": hit.score, "rank": hit.rank}
    return Document(page_content=hit.text, metadata=metadata, id=hit.item_id)


class EnrichRetriever(BaseRetriever):
    """A LangChain retriever backed by an enrich pipeline (or any first stage).

    Attributes:
        pipeline: a :class:`~enrich.retrieval.Pipeline`, :class:`~enrich.retrieval.Retriever`
            or :class:`~enrich.retrieval.BM25Retriever` (anything with ``search(query, k)``).
        k: documents returned per query.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pipeline: Any
    k: int = 10

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [hit_to_document(h) for h in self.pipeline.search(query, k=self.k)]


class EnrichReranker(BaseDocumentCompressor):
    """A LangChain document compressor that reranks documents with an enrich cross-encoder.

    Attributes:
        reranker: a :class:`~enrich.retrieval.Reranker`.
        top_n: documents kept, best first.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Any
    top_n: int = 5

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        """Score every document against ``query``, keep the best ``top_n``.

        Returns:
            Copies of the documents with ``relevance_score`` added to their metadata.
        """
        docs = list(documents)
        scores = self.reranker.score(query, [d.page_content for d in docs])
        order = sorted(range(len(docs)), key=lambda i: -float(scores[i]))[: self.top_n]
        return [Document(page_content=docs[i].page_content, id=docs[i].id,
                         metadata={**docs[i].metadata, "relevance_score": float(scores[i])})
                for i in order]
