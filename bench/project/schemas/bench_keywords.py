"""The benchmark's output contract: a bounded array of short strings (see bench/workload.py)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["BenchKeywords"]

Keyword = Annotated[str, StringConstraints(max_length=40)]


class BenchKeywords(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keywords: list[Keyword] = Field(min_length=1, max_length=5)
