"""Item metadata: clean title, short summary, typed attributes and keywords for an item."""

from enrich.tasks import register
from enrich.tasks.base import Task


@register
class ItemMetadataTask(Task):
    """From an item's text (title, description, genres, tags) to structured metadata."""

    name = "item_metadata"
    description = "clean title, 1–2 sentence summary, typed attributes, keywords"
    default_prompt = "item_metadata"
    view = "item_metadata"
