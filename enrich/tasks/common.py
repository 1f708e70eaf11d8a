"""Helpers shared by the task modules: item text, side catalogues, finalize-table writes.

Example:
    >>> item_text({"movie_id": 2, "title": "Jumanji", "genres": "Adventure|Children"},
    ...           ["title", "genres"])
    'Jumanji | Adventure, Children'
"""

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from enrich.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from enrich.jobs import JobSpec
    from enrich.store import Store


class CatalogueSpec(BaseModel):
    """A side table of items (for RAG or as a retrieval corpus): a file with an id and text.

    Example (in ``task_options``)::

        rag: {path: data/samples/homedepot_pairs.csv, id_column: product_uid,
              text_columns: [product_title], k: 3}
    """

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="CSV, JSONL or Parquet file (relative to the project root)")
    id_column: str = Field(description="column with the item id (duplicates are merged)")
    text_columns: list[str] = Field(min_length=1, description="columns joined into item text")


def clean_value(value: Any) -> str:
    """A column value as prompt text: '' for None/NaN, '|' lists as commas, trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    return text.replace("|", ", ") if "|" in text and " | " not in text else text


def tidy_list(values: list[Any], limit: int | None = None) -> list[str]:
    """Trimmed, non-empty, case-insensitively distinct strings, in their first order.

    Example:
        >>> tidy_list([" Heist ", "heist", "", "Al Pacino"])
        ['Heist', 'Al Pacino']
    """
    seen: set[str] = set()
    tidy: list[str] = []
    for value in values:
        text = " ".join(str(value).split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            tidy.append(text)
    return tidy[:limit] if limit else tidy


def item_fields(row: dict[str, Any], columns: Sequence[str] | None,
                skip: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(column, value) pairs of a row with a value, in ``columns`` order (default: all)."""
    names = list(columns) if columns else [c for c in row if c not in skip]
    fields = []
    for name in names:
        text = clean_value(row.get(name))
        if text:
            fields.append((name, text))
    return fields


def item_text(row: dict[str, Any], columns: Sequence[str] | None,
              skip: Sequence[str] = ()) -> str:
    """The item text of a row: its non-empty ``columns`` joined with `` | ``."""
    return " | ".join(text for _, text in item_fields(row, columns, skip))


def check_columns(task: str, row: dict[str, Any], columns: Sequence[str], option: str) -> None:
    """Raise a ConfigError when a configured column is not in the source row."""
    missing = [c for c in columns if c not in row]
    if missing:
        raise ConfigError(f"task `{task}`: column(s) {', '.join(missing)} from "
                          f"task_options.{option} are not in the source",
                          f"source columns: {', '.join(row)}; fix task_options.{option}")


def source_rows(job: "JobSpec", source: dict[str, Any] | None = None,
                store: "Store | None" = None, batch_size: int = 2000
                ) -> Iterator[dict[str, Any]]:
    """Every row of the job's source (without the job's ``limit``), or of another file.

    Args:
        job: the job (its root resolves relative paths).
        source: a ``SourceSpec``-shaped dict to read instead of the job's own source.
        store: the open results store, for sources that query the store itself.
    """
    from enrich.jobs import SourceSpec
    from enrich.sources import RowSource

    spec = job.source if source is None else SourceSpec.model_validate(source)
    copy = job.model_copy(update={"source": spec, "limit": None})
    reader = (RowSource(copy, store.reader(), store.path) if store is not None
              else RowSource(copy))
    for batch in reader.batches(batch_size):
        yield from batch


def load_catalogue(job: "JobSpec", spec: CatalogueSpec, store: "Store | None" = None
                   ) -> tuple[list[str], list[str]]:
    """(ids, texts) of a catalogue file; rows repeating an id are merged into the first."""
    ids: list[str] = []
    texts: list[str] = []
    seen: set[str] = set()
    rows = source_rows(job, {"path": spec.path, "id_column": spec.id_column}, store)
    for index, row in enumerate(rows):
        if index == 0:
            check_columns("rag", row, spec.text_columns, "rag.text_columns")
        item_id = str(row[spec.id_column])
        if item_id in seen:
            continue
        seen.add(item_id)
        ids.append(item_id)
        texts.append(item_text(row, spec.text_columns))
    if not ids:
        raise ConfigError(f"catalogue {spec.path} has no rows", "check the file")
    return ids, texts


def replace_run_rows(store: "Store", table: str, run_id: str, rows: list[dict[str, Any]]
                     ) -> None:
    """Replace a run's rows in a task table, in one transaction (finalize may run again)."""
    import duckdb
    import pyarrow as pa

    cursor = store.con.cursor()
    try:
        cursor.execute("BEGIN TRANSACTION")
        cursor.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        if rows:
            batch = pa.Table.from_pylist(rows)
            cursor.register("_enrich_task_rows", batch)
            cols = ", ".join(batch.column_names)
            cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _enrich_task_rows")
            cursor.unregister("_enrich_task_rows")
        cursor.execute("COMMIT")
    except duckdb.Error as exc:
        cursor.execute("ROLLBACK")
        raise StoreError(f"cannot write {table} for run {run_id}: {exc}",
                         "run the job again: the step is redone once every row is stored"
                         ) from exc
    finally:
        cursor.close()
