"""Output contract of the item-metadata task (bounded so generation cannot run away)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ShortText = Annotated[str, Field(min_length=1, max_length=60)]

__all__ = ["ItemAttributes", "ItemMetadata"]


class ItemAttributes(BaseModel):
    """Typed attributes of a catalogue item."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=60, description="e.g. 'crime thriller film'")
    creator: str = Field(max_length=80, description="brand, director or maker; '' if unknown")
    properties: list[ShortText] = Field(max_length=5, description="short key properties")


class ItemMetadata(BaseModel):
    """Clean title, summary, attributes and keywords of one item."""

    model_config = ConfigDict(extra="forbid")

    clean_title: str = Field(min_length=1, max_length=120)
    summary: str = Field(min_length=1, max_length=400, description="one or two sentences")
    attributes: ItemAttributes
    keywords: list[ShortText] = Field(min_length=1, max_length=8, description="search keywords")
