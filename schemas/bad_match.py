"""Output contract of the bad-match task (Indeed eBadMatch): label first, so that P(label)
can be read from the token log-probabilities where the label's value starts."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MatchLabel"]

Likelihood = Literal[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


class MatchLabel(BaseModel):
    """How well an item matches a query (or a user's interests)."""

    model_config = ConfigDict(extra="forbid")

    label: Literal["good", "partial", "bad"] = Field(
        description="good: what was asked for; partial: related but differs in an important "
                    "way; bad: a different kind of thing")
    bad_likelihood: Likelihood = Field(description="0 = surely fine .. 10 = surely a bad match "
                                                   "(the verbalized score)")
    reason: str = Field(min_length=1, max_length=100, description="at most 12 words")
