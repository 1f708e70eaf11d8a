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
from enrich.tasks.base import StrictTaskOptions, Task
from enrich.tasks.common import tidy_list
from enrich.tasks.view import TaskView


class ItemMetadataOptions(StrictTaskOptions):
    """The item-metadata task has no options: the prompt reads the row's columns."""


ITEM_METADATA_VIEW = TaskView(
    name="item_metadata",
    sql="""
SELECT o.run_id, o.row_id AS item_id,
       q.output ->> '$.clean_title' AS clean_title,
       q.output ->> '$.summary' AS summary,
       q.output ->> '$.attributes.category' AS category,
       q.output ->> '$.attributes.creator' AS creator,
       CAST(q.output -> '$.attributes.properties' AS VARCHAR[]) AS properties,
       CAST(q.output -> '$.keywords' AS VARCHAR[]) AS keywords,
       o.input, r.model, r.prompt_version, o.created_at, o.cached, o.key AS request_key
FROM outputs o JOIN runs r ON r.run_id = o.run_id JOIN requests q ON q.key = o.key
WHERE r.task = 'item_metadata'
""",
    columns=("run_id", "item_id", "clean_title", "summary", "category", "creator",
             "properties", "keywords", "input", "model", "prompt_version", "created_at",
             "cached", "request_key"),
    core_columns=("run_id", "item_id", "clean_title", "summary", "model", "prompt_version"),
    examples="SELECT item_id, clean_title, category, creator, keywords, summary "
             "FROM item_metadata WHERE run_id = ? ORDER BY TRY_CAST(item_id AS BIGINT), item_id",
    stats="SELECT count(*) AS items, count(DISTINCT lower(category)) AS categories, "
          "round(avg(len(keywords)), 1) AS keywords_per_item, "
          "count(*) FILTER (WHERE creator <> '') AS with_creator "
          "FROM item_metadata WHERE run_id = ?",
)


class ItemMetadataTask(Task):
    """From an item's text (title, description, genres, tags) to structured metadata."""

    name = "item_metadata"
    description = "clean title, 1–2 sentence summary, typed attributes, keywords"
    default_prompt = "item_metadata"
    view = ITEM_METADATA_VIEW
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
