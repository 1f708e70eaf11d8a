"""Items to index, from a file or from a store's ``item_metadata`` view."""

from pathlib import Path
from typing import Any

from enrich.errors import ConfigError

Items = tuple[list[str], list[str], list[dict[str, Any]]]


def items_from_file(path: Path, id_column: str, text_columns: list[str]) -> Items:
    """Ids, texts and metadata from a CSV / JSONL / Parquet file.

    Args:
        path: the file.
        id_column: the column with unique item ids.
        text_columns: columns joined with ``". "`` into the indexed text.

    Returns:
        ``(ids, texts, metadata)``; metadata holds every other column of the row.

    Raises:
        ConfigError: the file or a column is missing, or an id repeats.

    Example:
        >>> ids, texts, meta = items_from_file(Path("items.csv"), "item_id", ["title"])
        ... # doctest: +SKIP
    """
    from enrich.distill.views import read_table_file

    frame = read_table_file(path, (id_column, *text_columns))
    frame = frame.drop_duplicates(id_column)
    texts = frame[text_columns].fillna("").astype(str).agg(". ".join, axis=1).str.strip(". ")
    keep = texts != ""
    frame, texts = frame[keep], texts[keep]
    others = [c for c in frame.columns if c not in (id_column, *text_columns)]
    metadata = [{c: _plain(row[c]) for c in others} for row in frame.to_dict("records")]
    return frame[id_column].astype(str).tolist(), texts.tolist(), metadata


def items_from_store(db: Path) -> Items:
    """Items from the ``item_metadata`` view: text = clean title + summary.

    Raises:
        ConfigError: the store has no item_metadata rows.
    """
    from enrich.distill.views import ViewReader

    with ViewReader(db) as views:
        frame = views.read("item_metadata")
    if frame is None or frame.empty:
        raise ConfigError(f"{db} has no item_metadata rows",
                          "run an item_metadata job first, or pass --items FILE")
    frame = frame.drop_duplicates("item_id", keep="last")
    texts = (frame["clean_title"].fillna("") + ". " + frame["summary"].fillna("")).str.strip(". ")
    extra = [c for c in ("category", "creator", "keywords", "run_id") if c in frame.columns]
    metadata = [{c: _plain(row[c]) for c in extra} for row in frame.to_dict("records")]
    return frame["item_id"].astype(str).tolist(), texts.tolist(), metadata


def _plain(value: Any) -> Any:
    """A JSON-ready value (numpy scalars and arrays become Python ones)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and value != value:
        return None
    return value
