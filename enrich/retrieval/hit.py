"""One search result."""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class SearchHit:
    """An item returned by a retriever or a reranker.

    Attributes:
        item_id: the item's id in the index.
        text: the item text that was indexed.
        score: the score of the stage that produced this hit (cosine, BM25 or cross-encoder).
        rank: 1-based position in the result list.
        metadata: the item's metadata from the index, plus ``retrieval_score`` once reranked.

    Example:
        >>> SearchHit("i1", "Cordless drill", 0.83, 1).to_dict()["item_id"]
        'i1'
    """

    item_id: str
    text: str
    score: float
    rank: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)
