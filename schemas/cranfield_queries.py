"""Output contract of the Cranfield synthetic-query prompt (eval/cranfield): three questions."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CranfieldQueries"]


class CranfieldQueries(BaseModel):
    """Questions a researcher would ask that one aeronautics abstract answers."""

    model_config = ConfigDict(extra="forbid")

    queries: list[Annotated[str, Field(max_length=160)]] = Field(min_length=1, max_length=3,
                               description="up to 3 questions, each under 15 words")
