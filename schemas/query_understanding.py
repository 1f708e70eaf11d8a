"""Output contract of the query-understanding task (Yelp-style), bounded."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["QueryParse", "QuerySpan"]

SpanType = Literal["product_type", "brand", "attribute", "color", "material", "size_quantity",
                   "model_number", "style", "location", "other"]
Rewrite = Annotated[str, Field(min_length=1, max_length=100)]
Intent = Literal["specific_product", "category", "model_number", "problem", "other"]


class QuerySpan(BaseModel):
    """A run of words copied from the query, with its type (offsets are computed later)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=80)
    type: SpanType


class QueryParse(BaseModel):
    """Spelling, intent, typed segmentation and rewrites of one search query."""

    model_config = ConfigDict(extra="forbid")

    corrected: str = Field(min_length=1, max_length=160, description="spelling-corrected query")
    intent: Intent
    spans: list[QuerySpan] = Field(max_length=8)
    rewrites: list[Rewrite] = Field(max_length=3, description="other ways to search for the same")
