"""Output contract of the Home Depot relevance prompt (eval/homedepot): one graded label."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["HomeDepotRelevance"]


class HomeDepotRelevance(BaseModel):
    """How well a product matches a shopper's search."""

    model_config = ConfigDict(extra="forbid")

    label: Literal["good", "partial", "bad"]
