"""The DuckDB store: one writer per process, batched set-based writes, read-only readers.

Tables: ``runs``, ``prompt_versions``, ``requests`` (content-addressed by cache key: messages,
parameters, raw response, validated output, tokens, latency), ``outputs`` (which rows of which run
got which key) and ``failures``. A batch of results is written in one transaction, so a row is
either completely stored or not at all, whenever the process dies.
"""

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from enrich.errors import StoreError
from enrich.store.migrations import MIGRATIONS
from enrich.store.pending import PendingWrites


def utcnow() -> datetime:
    """Naive UTC timestamp (DuckDB TIMESTAMP has no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _store_error(path: Path, exc: Exception) -> StoreError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "lock" in text.lower():
        return StoreError(f"the store {path} is in use by another process ({text})",
                          "wait for that run to finish, or use another file with --db")
    if "No space left" in text or "disk" in text.lower() and "full" in text.lower():
        return StoreError(f"no space left to write the store {path}",
                          "free disk space, then run the job again to resume")
    if "Permission denied" in text or "read-only" in text.lower() or "Read-only" in text:
        return StoreError(f"cannot write the store {path} ({text})",
                          "choose a writable location with --db")
    return StoreError(f"cannot use the store {path}: {text}",
                      "check the path, or move the file aside and run again")


class Store:
    """A DuckDB results store.

    Args:
        path: the DuckDB file (created with its parent folder if missing).
        read_only: open for reading only (dashboards, status, export while a job runs).

    Example:
        >>> with Store(Path("enrich.duckdb"), read_only=True) as store:   # doctest: +SKIP
        ...     store.sql("SELECT count(*) FROM outputs").fetchone()
    """

    def __init__(self, path: Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"no store at {self.path}", "run a job first, or pass --db PATH")
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except (duckdb.Error, OSError) as exc:
            raise _store_error(self.path, exc) from None
        if not read_only:
            self.migrate()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def sql(self, query: str, params: Iterable[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run a query on a fresh cursor (safe beside the writer)."""
        cursor = self.con.cursor()
        return cursor.execute(query, list(params) if params is not None else None)

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A cursor for reads that may run while another thread writes."""
        return self.con.cursor()

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations in order; returns the versions applied."""
        self.con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
                         "PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
        done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for version, name, ddl in MIGRATIONS:
            if version in done:
                continue
            try:
                self.con.execute("BEGIN TRANSACTION")
                self.con.execute(ddl)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                                 [version, name, utcnow()])
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                self.con.execute("ROLLBACK")
                raise _store_error(self.path, exc) from None
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        row = self.sql("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    # -- runs -----------------------------------------------------------------------------
    def resumable_run(self, job_name: str, fingerprint: str) -> str | None:
        """The latest unfinished run of this exact job configuration, if any."""
        row = self.sql("SELECT run_id FROM runs WHERE job_name = ? AND fingerprint = ? AND "
                       "status <> 'finished' ORDER BY started_at DESC LIMIT 1",
                       [job_name, fingerprint]).fetchone()
        return row[0] if row else None

    def create_run(self, run: dict[str, Any]) -> None:
        """Insert a run row (keys are column names)."""
        run = {**run, "pid": os.getpid(), "started_at": utcnow(), "status": "running"}
        cols = ", ".join(run)
        marks = ", ".join("?" for _ in run)
        self._write(f"INSERT INTO runs ({cols}) VALUES ({marks})", list(run.values()))

    def mark_run(self, run_id: str, status: str, wall_s: float | None = None,
                 rows_total: int | None = None) -> None:
        """Set a run's status (running, interrupted, finished, failed)."""
        finished = utcnow() if status in ("finished", "failed") else None
        self._write("UPDATE runs SET status = ?, updated_at = ?, finished_at = coalesce(?, "
                    "finished_at), wall_s = coalesce(?, wall_s), rows_total = coalesce(?, "
                    "rows_total), pid = ? WHERE run_id = ?",
                    [status, utcnow(), finished, wall_s, rows_total, os.getpid(), run_id])

    def record_prompt_version(self, name: str, version: str, schema_name: str,
                              content_json: str) -> None:
        self._write("INSERT OR IGNORE INTO prompt_versions VALUES (?, ?, ?, ?, ?)",
                    [name, version, schema_name, content_json, utcnow()])

    def _write(self, query: str, params: list[Any]) -> None:
        try:
            self.con.execute(query, params)
        except (duckdb.Error, OSError) as exc:
            raise _store_error(self.path, exc) from None

    # -- set-based lookups for resume and cache ----------------------------------------------
    def done_row_ids(self, run_id: str, row_ids: list[str]) -> set[str]:
        """Which of ``row_ids`` this run already stored (as output or failure)."""
        rows = self.reader().execute(
            "SELECT row_id FROM outputs WHERE run_id = $run AND row_id IN (SELECT unnest($ids)) "
            "UNION ALL SELECT row_id FROM failures WHERE run_id = $run AND row_id IN "
            "(SELECT unnest($ids))", {"run": run_id, "ids": row_ids}).fetchall()
        return {r[0] for r in rows}

    def known_keys(self, keys: list[str], with_failures: bool = True
                   ) -> dict[str, tuple[str, str] | None]:
        """Which of ``keys`` were answered before: None for a validated response (a cache
        hit), (error kind, message) for a key that only ever failed (re-sent by ``retry``)."""
        found: dict[str, tuple[str, str] | None] = {}
        cursor = self.reader()
        if with_failures:
            for key, kind, message in cursor.execute(
                    "SELECT key, any_value(error_kind), any_value(message) FROM failures "
                    "WHERE key IN (SELECT unnest($keys)) GROUP BY key", {"keys": keys}
            ).fetchall():
                found[key] = (kind, message)
        for (key,) in cursor.execute("SELECT key FROM requests WHERE key IN "
                                     "(SELECT unnest($keys))", {"keys": keys}).fetchall():
            found[key] = None
        return found

    # -- the writer -------------------------------------------------------------------------
    def write(self, pending: PendingWrites) -> None:
        """Write a batch of requests, outputs and failures in one transaction."""
        if pending.empty():
            return
        con = self.con
        try:
            con.execute("BEGIN TRANSACTION")
            for table, columns, conflict in pending.parts():
                names = ", ".join(columns)
                values = ", ".join(f"make_timestamp(unnest(${c}))" if c == "created_at"
                                   else f"unnest(${c})" for c in columns)
                con.execute(f"INSERT INTO {table} ({names}) SELECT {values} {conflict}",
                            columns)
            if pending.outputs["row_id"]:
                # a row that now has an output is no longer a failure (enrich retry)
                con.execute("DELETE FROM failures WHERE run_id = $run AND row_id IN "
                            "(SELECT unnest($ids))", {"run": pending.run_id,
                                                      "ids": pending.outputs["row_id"]})
            con.execute("COMMIT")
        except (duckdb.Error, OSError) as exc:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise _store_error(self.path, exc) from None
