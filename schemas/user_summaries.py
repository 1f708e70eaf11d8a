"""Output contract of the EmbSum user-summary task, bounded."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["UserSummary"]

Aspect = Annotated[str, Field(min_length=1, max_length=60)]


class UserSummary(BaseModel):
    """A user's interests in a few sentences, with aspects they like and dislike."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=300, description="one or two sentences")
    liked: list[Aspect] = Field(max_length=5, description="aspects (genres, themes, people, moods) "
                                                       "the user enjoys")
    disliked: list[Aspect] = Field(max_length=4, description="aspects the user rates low; may be "
                                                          "empty")
