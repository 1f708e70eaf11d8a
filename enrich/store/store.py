"""The DuckDB store: one writer per process, batched set-based writes, read-only readers.

Tables: ``runs``, ``prompt_versions``, ``requests`` (content-addressed by cache key: messages,
parameters, raw response, validated output, tokens, latency), ``outputs`` (which rows of which run
got which key) and ``failures``. A batch of results is written in one transaction, so a row is
either completely stored or not at all, whenever the process dies.
"""

import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from enrich.errors import StoreError
from enrich.store.batch_sql import stored_keys, write_batch
from enrich.store.memory import set_cap
from enrich.store.migrations import MIGRATIONS, create_task_views
from enrich.store.opening import check_file, check_schema, inspect_store, open_error, where
from enrich.store.pending import RESEND_KINDS, PendingWrites


def utcnow() -> datetime:
    """Naive UTC timestamp (DuckDB TIMESTAMP has no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _store_error(path: Path, exc: Exception, origin: str = "--db") -> StoreError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    damaged = open_error(path, origin, exc)  # a damaged file, or one from another DuckDB
    if damaged is not None:
        return damaged
    if re.search(r"\block\b", text, re.IGNORECASE):  # (not "block")
        holder = re.search(r"\(PID (\d+)\)", text)
        who = f"process {holder.group(1)}" if holder else "another process"
        return StoreError(f"the store {where(path, origin)} is in use by another process ({who} "
                          "has it open for writing)",
                          "wait for that run to finish, or " + (
                              "use another file with --db" if origin != "ENRICH_DB"
                              else "set ENRICH_DB to another file"))
    if any(sign in text for sign in ("No space left", "File too large", "Disk quota")) or \
            "disk" in text.lower() and "full" in text.lower():
        return StoreError(f"no space left to write the store {path} ({text.split(': ')[-1]}); "
                          "everything committed before is kept",
                          "free disk space, then run the job again to resume")
    if "Permission denied" in text or "read-only" in text.lower() or "Read-only" in text:
        return StoreError(f"cannot write the store {where(path, origin)} ({text})",
                          "choose a writable location with " + (
                              "--db" if origin != "ENRICH_DB" else "ENRICH_DB"))
    return StoreError(f"cannot use the store {where(path, origin)}: {text}",
                      "check the path, or move the file aside and run again")


def _number(cursor: duckdb.DuckDBPyConnection) -> int:
    """The one number a query returns (a count; rows inserted by an INSERT); 0 for none."""
    row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _apply_migrations(con: duckdb.DuckDBPyConnection, path: Path) -> list[int]:
    """Apply pending migrations in order, each in a transaction, then (re)create the task
    views that are not current; returns the versions applied."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
                "PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, ddl in MIGRATIONS:
        if version in done:
            continue
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(ddl)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        [version, name, utcnow()])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise _store_error(path, exc) from None
        applied.append(version)
    try:
        create_task_views(con, str(path))
    except duckdb.Error as exc:
        raise _store_error(path, exc) from None
    return applied


def _create_store_file(path: Path) -> bool:
    """Create a new store under a temporary name with every table, then link it into place, so
    a store file never exists without its tables, whenever the process dies; True when the
    file in place is the one made here. (If another process created the file meanwhile, that
    one is used; its lock then decides who writes.)"""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.creating")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        _apply_migrations(con, path)
    try:
        if not Path(f"{tmp}.wal").exists():  # (closing checkpoints: everything is in the file)
            os.link(tmp, path)
            return True
    except FileExistsError:
        pass
    except OSError:  # no hard links on this file system: create it in place
        pass
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return False


class Store:
    """A DuckDB results store.

    Args:
        path: the DuckDB file (created with its parent folder if missing).
        read_only: open for reading only (dashboards, status, export while a job runs).
        origin: where the path came from (``--db`` or ``ENRICH_DB``), named in errors.
        any_tables: (read-only) also open a DuckDB file that holds no enrich tables, for a
            reader that checks the tables it needs itself (``ViewReader``); an enrich store
            in it is still checked as usual.
        memory_mb: (writing) DuckDB's memory cap, see :mod:`enrich.store.memory`.

    Example:
        >>> with Store(Path("enrich.duckdb"), read_only=True) as store:   # doctest: +SKIP
        ...     store.sql("SELECT count(*) FROM outputs").fetchone()
    """

    def __init__(self, path: Path, read_only: bool = False, origin: str = "--db",
                 any_tables: bool = False, memory_mb: int | None = None):
        self.path = Path(path).expanduser()
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"no store at {where(self.path, origin)}", "run a job first, or "
                             + ("pass --db PATH" if origin != "ENRICH_DB"
                                else "set ENRICH_DB to an existing store"))
        check_file(self.path, origin)  # nothing is written to a file that is not ours
        self._created = False
        self.con = self._connect(origin)
        if read_only:
            try:
                version = check_schema(self.con, self.path, origin,
                                       any_tables=any_tables)
            except StoreError:
                self.con.close()
                raise
            if version == 0 and not any_tables:
                self.con.close()
                raise StoreError(f"no runs in {where(self.path, origin)} yet (it has no "
                                 "tables)", "run a job first, or pass --db PATH")
        else:
            if not self._created:  # (a file made whole just now has nothing to migrate)
                try:
                    self.migrate()
                except StoreError:
                    self.con.close()
                    raise
            self.memory_mb = set_cap(self.con, memory_mb)  # see enrich/store/memory.py

    def _connect(self, origin: str) -> duckdb.DuckDBPyConnection:
        """Open the file; an existing one is checked read-only first (see
        :mod:`enrich.store.opening`), a new one is created whole under a temporary name."""
        try:
            if self.read_only:
                return duckdb.connect(str(self.path), read_only=True)
            if self.path.is_file() and self.path.stat().st_size > 0:
                inspect_store(self.path, origin)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._created = _create_store_file(self.path)
            return duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise (open_error(self.path, origin, exc)
                   or _store_error(self.path, exc, origin)) from None
        except OSError as exc:
            raise _store_error(self.path, exc, origin) from None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def sql(self, query: str, params: Iterable[Any] | Mapping[str, Any] | None = None
            ) -> duckdb.DuckDBPyConnection:
        """Run a query on a fresh cursor (safe beside the writer); ``params`` are positional
        (``?``) or named (``$name``). ``.df()`` on the result gives a pandas DataFrame."""
        cursor = self.con.cursor()
        if isinstance(params, Mapping):
            return cursor.execute(query, dict(params) or None)
        return cursor.execute(query, list(params) if params is not None else None)

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A cursor for reads that may run while another thread writes."""
        return self.con.cursor()

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations in order and bring the task views up to date; returns the
        versions applied."""
        return _apply_migrations(self.con, self.path)

    def schema_version(self) -> int:
        return _number(self.sql("SELECT max(version) FROM schema_migrations"))

    # -- runs -----------------------------------------------------------------------------
    def resumable_run(self, job_name: str, fingerprint: str) -> str | None:
        """The latest run of this exact job configuration that is unfinished, or finished with
        rows whose failure was transient (:data:`RESEND_KINDS`: a rerun re-sends them)."""
        row = self.sql("SELECT run_id FROM runs r WHERE job_name = ? AND fingerprint = ? AND "
                       "(status <> 'finished' OR EXISTS (SELECT 1 FROM failures f WHERE "
                       "f.run_id = r.run_id AND f.error_kind IN (SELECT unnest(?)))) "
                       "ORDER BY started_at DESC LIMIT 1",
                       [job_name, fingerprint, sorted(RESEND_KINDS)]).fetchone()
        return row[0] if row else None

    def replayable_run(self, job_name: str, fingerprint: str, config_json: str
                       ) -> tuple[str, int] | None:
        """(run id, rows) of the latest finished run of this exact job (same fingerprint and
        the same job file settings), if any."""
        row = self.sql("SELECT run_id, rows_total FROM runs WHERE job_name = ? AND fingerprint "
                       "= ? AND status = 'finished' AND config = CAST(? AS JSON) "
                       "ORDER BY started_at DESC LIMIT 1",
                       [job_name, fingerprint, config_json]).fetchone()
        return (row[0], int(row[1] or 0)) if row else None

    def replay_run(self, previous: str, run_id: str) -> tuple[int, int]:
        """Give ``run_id`` every row of the finished run ``previous``, as cache hits and kept
        failures, in one transaction; returns (outputs, failures) copied."""
        con, now = self.con, utcnow()
        try:
            con.execute("BEGIN TRANSACTION")
            outputs = _number(con.execute(
                "INSERT INTO outputs SELECT $new, row_id, key, true, input, $now FROM outputs "
                "WHERE run_id = $old", {"new": run_id, "old": previous, "now": now}))
            failures = _number(con.execute(
                "INSERT INTO failures SELECT $new, row_id, key, error_kind, message, content, 0, "
                "input, $now FROM failures WHERE run_id = $old",
                {"new": run_id, "old": previous, "now": now}))
            con.execute("COMMIT")
        except (duckdb.Error, OSError) as exc:
            self._rollback()
            raise _store_error(self.path, exc) from None
        return outputs, failures

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

    def discard_run(self, run_id: str) -> bool:
        """Delete a run that stored nothing (it failed before its first row); True if deleted.

        Its prompt version goes too, unless another run used it. A run with any stored row is
        kept: it is resumable.
        """
        row = self.sql("SELECT prompt_name, prompt_version FROM runs WHERE run_id = ? AND "
                       "NOT EXISTS (SELECT 1 FROM outputs WHERE run_id = ?) AND NOT EXISTS "
                       "(SELECT 1 FROM failures WHERE run_id = ?) AND NOT EXISTS "
                       "(SELECT 1 FROM requests WHERE run_id = ?)", [run_id] * 4).fetchone()
        if row is None:
            return False
        self._write("DELETE FROM runs WHERE run_id = ?", [run_id])
        self._write("DELETE FROM prompt_versions WHERE name = ? AND version = ? AND NOT EXISTS "
                    "(SELECT 1 FROM runs WHERE prompt_name = ? AND prompt_version = ?)",
                    [row[0], row[1], row[0], row[1]])
        return True

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
    def stored_row_ids(self, run_id: str, resend: bool = False) -> set[str]:
        """Every row id this run has stored (as output or failure): empty for a new run.
        ``resend``: leave out failures of a transient kind (:data:`RESEND_KINDS`)."""
        rows = self.reader().execute(
            "SELECT row_id FROM outputs WHERE run_id = $run UNION ALL SELECT row_id FROM "
            "failures WHERE run_id = $run AND NOT (error_kind IN (SELECT unnest($kinds)))",
            {"run": run_id, "kinds": sorted(RESEND_KINDS) if resend else []}).fetchall()
        return {r[0] for r in rows}

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
        hit), (error kind, message) for a key that only ever failed for good (re-sent by
        ``retry``). A failure of a transient kind (:data:`RESEND_KINDS`) is not an answer:
        the key is sent again."""
        found: dict[str, tuple[str, str] | None] = {}
        cursor = self.reader()
        if with_failures:
            for key, kind, message in cursor.execute(
                    "SELECT key, any_value(error_kind), any_value(message) FROM failures "
                    "WHERE key IN (SELECT unnest($keys)) AND NOT (error_kind IN "
                    "(SELECT unnest($kinds))) GROUP BY key",
                    {"keys": keys, "kinds": sorted(RESEND_KINDS)}).fetchall():
                found[key] = (kind, message)
        for key in stored_keys(cursor, keys):
            found[key] = None
        return found

    # -- the writer -------------------------------------------------------------------------
    def write(self, pending: PendingWrites) -> None:
        """Write a batch of requests, outputs and failures in one transaction.

        The tables have no primary keys (see :mod:`enrich.store.migrations`, migration 4), so
        this keeps them unique: a cache key already stored is not stored again, and a row's
        new failure or output replaces its earlier failure. A batch that does not fit under the
        memory cap (a row with a field of tens of MB) is written again with half the RAM.
        """
        if pending.empty():
            return
        try:
            try:
                write_batch(self.con, pending)
            except duckdb.OutOfMemoryException:
                # a row wider than the cap allows (tens of MB): this batch alone gets room
                self._rollback()
                set_cap(self.con, ram_share=0.5)
                try:
                    write_batch(self.con, pending)
                finally:
                    set_cap(self.con, self.memory_mb)
        except (duckdb.Error, OSError) as exc:
            self._rollback()
            raise _store_error(self.path, exc) from None

    def _rollback(self) -> None:
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error:
            pass
