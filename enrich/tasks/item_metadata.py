"""Item metadata: clean title, short summary, typed attributes and keywords for an item.

Works on any item table whose rows have a ``title`` (and optionally ``year``, ``genres``,
``tags``, ``description``): MovieLens movies, Home Depot product titles, ... The validated
output is tidied (whitespace, duplicate keywords and properties, empty entries) and read
through the ``item_metadata`` view.

Example job::

    name: homedepot-item-metadata
    task: item_metadata
    source: {path: data/samples/homedepot_products.csv, id_column: product_uid}
    prompt: item_metadata
"""

from typing import Any

from enrich.backends.base import LLMResult
from enrich.tasks import register
from enrich.tasks.base import StrictTaskOptions, Task
from enrich.tasks.common import tidy_list


class ItemMetadataOptions(StrictTaskOptions):
    """The item-metadata task has no options: the prompt reads the row's columns."""


@register
class ItemMetadataTask(Task):
    """From an item's text (title, description, genres, tags) to structured metadata."""

    name = "item_metadata"
    description = "clean title, 1–2 sentence summary, typed attributes, keywords"
    default_prompt = "item_metadata"
    view = "item_metadata"
    Options = ItemMetadataOptions

    def postprocess(self, output: dict[str, Any], result: LLMResult) -> dict[str, Any]:
        """Trim text fields; drop empty and repeated keywords and properties."""
        output["clean_title"] = " ".join(str(output.get("clean_title", "")).split())
        output["summary"] = " ".join(str(output.get("summary", "")).split())
        attributes = output.get("attributes") or {}
        attributes["category"] = " ".join(str(attributes.get("category", "")).split())
        attributes["creator"] = " ".join(str(attributes.get("creator", "")).split())
        attributes["properties"] = tidy_list(attributes.get("properties") or [])
        output["attributes"] = attributes
        output["keywords"] = tidy_list(output.get("keywords") or [])
        return output
