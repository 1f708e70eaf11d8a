"""The LangChain retriever and document compressor."""

from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from retrieval_fixtures import bi_encoder, cross_encoder, index_folder  # noqa: F401

from enrich.retrieval import EnrichReranker, EnrichRetriever, Pipeline, Reranker, Retriever


def test_retriever_returns_documents_with_metadata(index_folder: Path,  # noqa: F811
                                                   bi_encoder: Any) -> None:  # noqa: F811
    pipeline = Pipeline(Retriever.from_folder(index_folder, model=bi_encoder))
    docs = EnrichRetriever(pipeline=pipeline, k=3).invoke("white floor tiles")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert top.metadata["item_id"] == "i12" and top.id == "i12"
    assert top.metadata["rank"] == 1 and isinstance(top.metadata["score"], float)
    assert "price" in top.metadata and top.page_content.startswith("Ceramic floor tile")


def test_reranker_compresses_documents(cross_encoder: Any) -> None:  # noqa: F811
    docs = [Document(page_content=t, metadata={"n": n}) for n, t in
            enumerate(["Garden hose, 50 ft", "Smoke detector", "Cast iron skillet"])]
    out = EnrichReranker(reranker=Reranker(cross_encoder), top_n=2).compress_documents(
        docs, "kink resistant hose")
    assert len(out) == 2
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)
    assert all("n" in d.metadata for d in out)
