"""Numbered, ordered migrations of the DuckDB store's tables (applied once each, in a
transaction), and the task views, which are not migrations.

Never change a released migration's tables: add a new migration at the end. Views hold no
data, so they live with their task (``view = TaskView(...)`` on the task class, see
:mod:`enrich.tasks.view`) and :func:`create_task_views` (re)creates every registered task's
view each time a store is opened for writing, after the migrations. (Migrations 2 and 3 of
enrich before issue 18 also created the views; a store they wrote keeps its views, which have
the same columns, and gets the tasks' own views the first time it is opened for writing.)

Migration 4 rebuilds ``requests``, ``outputs`` and ``failures`` without primary keys. DuckDB
keeps primary-key indexes (ART) whole in memory, ≈ 70–110 bytes per key: a 1,000,000-row store
held ≈ 300 MB of them, and an out-of-memory COMMIT corrupts them. Uniqueness is the store's
writer's job instead (:meth:`enrich.store.Store.write`): a cache key is stored once (checked on
``requests.key_hash``, a BIGINT a scan reads at ≈ 6 ms per million rows, against ≈ 45 ms for the
32-character key), a row's output once (a run's row ids are unique and the runner skips stored
rows), and a row's failure is replaced, not added.
"""

import re
from typing import TYPE_CHECKING

from enrich.errors import StoreError

if TYPE_CHECKING:
    import duckdb

KEY_HASH_SQL = "coalesce(TRY_CAST('0x' || left({}, 15) AS BIGINT), 0)"
"""SQL for ``requests.key_hash``, the indexable form of a cache key: its first 15 hex digits as a
BIGINT (see :func:`enrich.store.keys.key_hash`, which computes the same in Python)."""

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "core tables", """
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    job_name VARCHAR NOT NULL,
    job_path VARCHAR,
    fingerprint VARCHAR NOT NULL,
    task VARCHAR,
    prompt_name VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    schema_name VARCHAR NOT NULL,
    backend VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    params JSON,
    source VARCHAR,
    rows_total BIGINT,
    status VARCHAR NOT NULL,
    pid INTEGER,
    started_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP,
    finished_at TIMESTAMP,
    wall_s DOUBLE,
    config JSON
);
CREATE TABLE prompt_versions (
    name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    schema_name VARCHAR,
    content JSON NOT NULL,
    first_seen TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE requests (
    key VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    prompt_name VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    backend VARCHAR NOT NULL,
    params JSON,
    messages JSON,
    response JSON,
    content VARCHAR,
    output JSON NOT NULL,
    logprobs JSON,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_ms DOUBLE,
    sends INTEGER,
    finish_reason VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE outputs (
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    cached BOOLEAN NOT NULL,
    input JSON,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, row_id)
);
CREATE TABLE failures (
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    key VARCHAR,
    error_kind VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    content VARCHAR,
    sends INTEGER,
    input JSON,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, row_id)
);
"""),
    (2, "task tables", """
CREATE TABLE synthetic_query_checks (
    run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    query_index INTEGER NOT NULL,
    query VARCHAR NOT NULL,
    kind VARCHAR,
    kept BOOLEAN NOT NULL,
    reason VARCHAR NOT NULL,
    rank INTEGER,
    retriever VARCHAR NOT NULL,
    top_k INTEGER NOT NULL,
    llm_score DOUBLE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, item_id, query_index)
);
"""),
    (3, "bad-match query-likelihood scores", """
CREATE TABLE match_scores (
    run_id VARCHAR NOT NULL,
    pair_id VARCHAR NOT NULL,
    ql_cond DOUBLE,
    ql_uncond DOUBLE,
    ql_pmi DOUBLE,
    scorer VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, pair_id)
);
"""),
    (4, "results tables without primary-key indexes", """
ALTER TABLE requests RENAME TO requests_v3;
CREATE TABLE requests (
    key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    prompt_name VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    backend VARCHAR NOT NULL,
    params JSON,
    messages JSON,
    response JSON,
    content VARCHAR,
    output JSON NOT NULL,
    logprobs JSON,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_ms DOUBLE,
    sends INTEGER,
    finish_reason VARCHAR,
    created_at TIMESTAMP NOT NULL,
    key_hash BIGINT NOT NULL
);
INSERT INTO requests SELECT *, """ + KEY_HASH_SQL.format("key") + """ FROM requests_v3;
DROP TABLE requests_v3;
ALTER TABLE outputs RENAME TO outputs_v3;
CREATE TABLE outputs (
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    cached BOOLEAN NOT NULL,
    input JSON,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO outputs SELECT * FROM outputs_v3;
DROP TABLE outputs_v3;
ALTER TABLE failures RENAME TO failures_v3;
CREATE TABLE failures (
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    key VARCHAR,
    error_kind VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    content VARCHAR,
    sends INTEGER,
    input JSON,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO failures SELECT * FROM failures_v3;
DROP TABLE failures_v3;
"""),
]

_CREATE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+) \((.*?)\n\);", re.DOTALL)
_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (?:IF NOT EXISTS )?(\w+)")
_NOT_A_COLUMN = ("PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK", "CONSTRAINT")


def table_columns(version: int) -> dict[str, frozenset[str]]:
    """Table → column names of a store at migration ``version``, read from the migrations'
    DDL text (no database needed: opening a store checks its tables against this).

    ``tests/test_hostile_store.py`` checks it against what DuckDB creates for every version.

    Example:
        >>> sorted(table_columns(1)["outputs"])[:3]
        ['cached', 'created_at', 'input']
    """
    tables: dict[str, set[str]] = {}
    for number, _, ddl in MIGRATIONS:
        if number > version:
            break
        for name, body in _CREATE.findall(ddl):
            lines = (line.strip() for line in body.splitlines())
            tables[name] = {line.split()[0] for line in lines
                            if line and not line.upper().startswith(_NOT_A_COLUMN)}
        for name, column in _ADD_COLUMN.findall(ddl):
            tables.setdefault(name, set()).add(column)
    return {name: frozenset(columns) for name, columns in tables.items()}


def create_task_views(con: "duckdb.DuckDBPyConnection", store: str) -> list[str]:
    """(Re)create the view of every registered task, in one transaction; returns the names of
    the views created. A view whose comment holds its current fingerprint is left alone, so
    opening an up-to-date store writes nothing.

    Task modules are imported here, not when the store is imported: ``enrich status`` and
    ``export`` open stores read-only and need no task.

    Args:
        con: a writable connection to the store, its migrations applied.
        store: the store's path as the user named it (for messages).

    Raises:
        StoreError: a view cannot be created (nothing is changed then).
    """
    import duckdb

    from enrich.tasks import task_views

    current = dict(con.execute(
        "SELECT view_name, comment FROM duckdb_views() WHERE database_name = "
        "current_database() AND schema_name = 'main' AND NOT internal").fetchall())
    stale = [view for view in task_views() if current.get(view.name) != view.fingerprint()]
    if not stale:
        return []
    con.execute("BEGIN TRANSACTION")
    for view in stale:
        try:
            con.execute(view.create_statement())
            con.execute(f"COMMENT ON VIEW {view.name} IS '{view.fingerprint()}'")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            reason = " ".join(str(exc).split())[:200]
            raise StoreError(
                f"cannot create the task view `{view.name}` in the store {store} ({reason})",
                f"if the store has a table called `{view.name}`, rename it; otherwise the "
                "view's SQL in its task module is wrong (enrich/tasks/)") from None
    con.execute("COMMIT")
    return [view.name for view in stale]
