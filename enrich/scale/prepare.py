"""The driver's first step of a scale-out run: what is left to send, as Parquet shards.

The rows the run has not stored are read from the source and rendered with the runner's own
code (:class:`RowFeed`: same templates, same cache keys), and each key is checked against the
store before anything is dispatched:

- a key answered before (a cache hit), or failed for good, is stored for its rows at once,
  and so is a row that does not render — through the store's ordinary batched writes;
- every other row is written to ``rows.parquet`` (row id, key, input, messages), and DuckDB
  writes one request per key (the first row in source order sends it; rows that render the
  same prompt wait for its answer) to ``todo/``, hash-partitioned into ``shards`` Parquet
  files, which Ray Data reads.

Example:
    >>> prepared = await prepare_attempt(plan, store, run_id, attempt, shards=8)  # doctest: +SKIP
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrich.plan import RunPlan
from enrich.row_feed import Rendered, RowFeed
from enrich.store import PendingWrites, Store, now_us
from enrich.store.pending import FailureRow

ROW_COLUMNS = ("ordinal", "row_id", "key", "input", "messages")


@dataclass
class Attempt:
    """The files of one scale-out attempt of a run (``WORK/RUN_ID/attempt-N/``)."""

    folder: Path

    @property
    def rows(self) -> Path:
        return self.folder / "rows.parquet"

    @property
    def todo(self) -> Path:
        return self.folder / "todo"

    @property
    def results(self) -> Path:
        return self.folder / "results"

    @property
    def prepared_marker(self) -> Path:
        return self.folder / "PREPARED"

    def result_files(self) -> list[Path]:
        """Finished result files (a worker writes under a temporary name, then renames)."""
        return sorted(self.results.glob("part-*.parquet")) if self.results.is_dir() else []

    def todo_files(self) -> list[Path]:
        return sorted(self.todo.rglob("*.parquet")) if self.todo.is_dir() else []


@dataclass
class Prepared:
    """What the driver found: rows stored at once, rows and requests left for the workers."""

    rows: int = 0
    stored_now: int = 0
    waiting_rows: int = 0
    requests: int = 0


class _RowsFile:
    """``rows.parquet`` written a source batch at a time."""

    def __init__(self, path: Path):
        import pyarrow as pa

        self.path = path
        self.schema = pa.schema([("ordinal", pa.int64())] + [
            (name, pa.string()) for name in ROW_COLUMNS[1:]])
        self.writer: Any = None
        self.rows = 0

    def add(self, items: list[Rendered]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not items:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema)
        columns = [list(range(self.rows, self.rows + len(items))),
                   [i.row_id for i in items], [i.key for i in items],
                   [i.input_json for i in items], [i.messages_json.decode() for i in items]]
        self.writer.write_table(pa.table(columns, schema=self.schema))
        self.rows += len(items)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _classify(batch: list[Rendered], known: dict[str, Any], pending: PendingWrites,
              run_id: str, now: int) -> list[Rendered]:
    """Store cache hits and keys that failed for good; return the rows still to answer."""
    waiting = []
    for item in batch:
        if item.key not in known:
            waiting.append(item)
        elif known[item.key] is None:
            pending.add_output(item.row_id, item.key, True, item.input_json, now)
        else:
            kind, message = known[item.key]
            pending.add_failure(FailureRow(
                run_id=run_id, row_id=item.row_id, key=item.key, error_kind=kind,
                message=message, content=None, sends=0, input=item.input_json, created_at=now))
    return waiting


async def prepare_attempt(plan: RunPlan, store: Store, run_id: str, attempt: Attempt,
                          shards: int) -> Prepared:
    """Store what needs no request and write the requests left as ``shards`` Parquet files.

    Args:
        plan: the resolved job (its task prepared).
        store: the writable store.
        run_id: the run being filled.
        attempt: where this attempt's files go (created).
        shards: Parquet files to split the requests into.
    """
    attempt.folder.mkdir(parents=True, exist_ok=True)
    feed = RowFeed(plan, store, run_id)
    rows_file = _RowsFile(attempt.rows)
    prepared = Prepared()
    try:
        async for batch in feed.batches():
            now = now_us()
            rendered, failures = await feed.render(batch, now)
            pending = PendingWrites(run_id)
            for record in failures:
                pending.add_failure(record)
            known = store.known_keys([r.key for r in rendered]) if rendered else {}
            waiting = _classify(rendered, known, pending, run_id, now)
            store.write(pending)
            rows_file.add(waiting)
            prepared.rows += len(batch)
            prepared.stored_now += pending.rows
    finally:
        rows_file.close()
    prepared.waiting_rows = rows_file.rows
    if rows_file.rows:
        prepared.requests = _write_todo(store, attempt, shards)
    attempt.prepared_marker.write_text(str(prepared.requests), encoding="utf-8")
    return prepared


def _write_todo(store: Store, attempt: Attempt, shards: int) -> int:
    """One request per key (its first row sends it), hash-partitioned into ``shards``."""
    rows = str(attempt.rows).replace("'", "''")
    todo = str(attempt.todo).replace("'", "''")
    query = (f"SELECT key, arg_min(row_id, ordinal) AS row_id, arg_min(input, ordinal) AS "
             f"input, any_value(messages) AS messages, hash(key) % {int(shards)} AS shard "
             f"FROM read_parquet('{rows}') GROUP BY key")
    store.sql(f"COPY ({query}) TO '{todo}' (FORMAT parquet, PARTITION_BY (shard), "
              "OVERWRITE_OR_IGNORE true)")
    found = store.sql(f"SELECT count(DISTINCT key) FROM read_parquet('{rows}')").fetchone()
    return int(found[0]) if found else 0
