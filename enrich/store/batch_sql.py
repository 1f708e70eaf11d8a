"""The SQL of one batch written to the store: columns inserted with ``unnest``, and the
uniqueness the results tables no longer get from primary keys (migration 4, see
:mod:`enrich.store.migrations`). :class:`enrich.store.Store` wraps it with error handling.
"""

from typing import Any

import duckdb

from enrich.store.migrations import KEY_HASH_SQL
from enrich.store.pending import PendingWrites


def insert_columns(columns: dict[str, list[Any]]) -> tuple[str, str, dict[str, Any]]:
    """(column names, SELECT expressions named as the columns, parameters) to insert a batch
    held as columns.

    A column whose values are all equal in the batch (run id, model, parameters, ...) is bound
    as one scalar instead of a list: DuckDB converts list parameters value by value, and about
    half of a result's columns are constant within a run.
    """
    exprs, params = [], {}
    rows = len(next(iter(columns.values())))
    for index, name in enumerate(columns):
        values = columns[name]
        # (the first column stays a list when there are several rows: it sets the row count)
        constant = (index > 0 or rows == 1) and values.count(values[0]) == rows
        params[name] = values[0] if constant else values
        expr = f"${name}" if constant else f"unnest(${name})"
        exprs.append(f"{f'make_timestamp({expr})' if name == 'created_at' else expr} AS {name}")
    return ", ".join(columns), ", ".join(exprs), params


def new_keys_only(columns: dict[str, list[Any]], stored: set[str]) -> dict[str, list[Any]]:
    """The batch's request columns without keys already ``stored`` and without a key's second
    answer in the batch (both rare: a run sends a key once and skips stored ones)."""
    keep, seen = [], set(stored)
    for index, key in enumerate(columns["key"]):
        if key not in seen:
            seen.add(key)
            keep.append(index)
    return {name: [values[i] for i in keep] for name, values in columns.items()}


def stored_keys(cursor: duckdb.DuckDBPyConnection, keys: list[str]) -> set[str]:
    """Which of ``keys`` the ``requests`` table holds.

    First by ``key_hash`` alone (a scan of 8 bytes a row: ≈ 6 ms per million rows, where
    reading the keys costs ≈ 35 ms); only the keys whose hash is there are then compared
    whole, so a fresh run never reads the key column.
    """
    hashes = f"(SELECT {KEY_HASH_SQL.format('k')} FROM (SELECT unnest($keys) AS k))"
    hits = [h for (h,) in cursor.execute(
        f"SELECT DISTINCT key_hash FROM requests WHERE key_hash IN {hashes}",
        {"keys": keys}).fetchall()]
    if not hits:
        return set()
    wanted = set(keys)
    return {key for (key,) in cursor.execute(
        "SELECT key FROM requests WHERE key_hash IN (SELECT unnest($hits))",
        {"hits": hits}).fetchall() if key in wanted}


def write_batch(con: duckdb.DuckDBPyConnection, pending: PendingWrites) -> None:
    """Write ``pending`` in one transaction (the caller rolls back on an error), keeping the
    tables unique: keys already stored are left out, a row's failure is replaced."""
    con.execute("BEGIN TRANSACTION")
    requests = pending.requests
    if requests["key"]:
        stored = stored_keys(con, requests["key"])
        if stored or len(set(requests["key"])) < len(requests["key"]):
            requests = new_keys_only(requests, stored)
    if requests["key"]:
        names, values, params = insert_columns(requests)
        con.execute(f"INSERT INTO requests ({names}, key_hash) SELECT *, "
                    f"{KEY_HASH_SQL.format('key')} FROM (SELECT {values})", params)
    replaced = pending.outputs["row_id"] + pending.failures["row_id"]
    if replaced and con.execute("SELECT 1 FROM failures WHERE run_id = ? LIMIT 1",
                                [pending.run_id]).fetchone():
        # a row's new output or failure replaces its earlier failure (enrich retry)
        con.execute("DELETE FROM failures WHERE run_id = $run AND row_id IN "
                    "(SELECT unnest($ids))", {"run": pending.run_id, "ids": replaced})
    for table, columns in (("outputs", pending.outputs), ("failures", pending.failures)):
        if columns["row_id"]:
            names, values, params = insert_columns(columns)
            con.execute(f"INSERT INTO {table} ({names}) SELECT {values}", params)
    con.execute("COMMIT")
