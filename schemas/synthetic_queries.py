"""Output contract of the synthetic-queries task (doc2query / InPars), bounded."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GeneratedQuery", "SyntheticQueries"]

QueryKind = Literal["specific", "broad", "attribute"]


class GeneratedQuery(BaseModel):
    """One search query a user could type to find the item."""

    model_config = ConfigDict(extra="forbid")

    kind: QueryKind = Field(description="specific: names the item; broad: exploratory, "
                                        "category-level; attribute: asks for a property")
    query: str = Field(min_length=2, max_length=80, description="the query, 2-10 words")


class SyntheticQueries(BaseModel):
    """Diverse queries for one item."""

    model_config = ConfigDict(extra="forbid")

    queries: list[GeneratedQuery] = Field(min_length=1, max_length=6)
