"""Checks that run before a store file is opened for writing: is it ours, whole and not newer?

A file that is not a DuckDB database, a DuckDB file cut short or damaged, one written by a
newer DuckDB, one that holds another program's tables (even tables with our names but other
columns), and a store written by a newer ``enrich`` (a migration this version does not know)
are refused with one line, before anything is written: the file stays byte for byte as it was.
The checks read the file's header and open it read-only; only then is it opened for writing.

Example:
    >>> version = inspect_store(Path("enrich.duckdb"), "--db")   # doctest: +SKIP
"""

from pathlib import Path

import duckdb

from enrich.errors import StoreError
from enrich.store.migrations import MIGRATIONS, table_columns

_BLOCK_HEADER = 4096  # DuckDB: a main header and two database headers of 4 KiB each
_MIGRATION_COLUMNS = frozenset({"version", "name", "applied_at"})


def where(path: Path, origin: str) -> str:
    """The store's path as the user gave it, saying when it came from ``ENRICH_DB``."""
    return f"{path} (from ENRICH_DB)" if origin == "ENRICH_DB" else str(path)


def use_another(origin: str, what: str = "a new file name or an existing enrich store") -> str:
    """The hint that names what the user set: the ``--db`` option or ``ENRICH_DB``."""
    if origin == "ENRICH_DB":
        return f"set ENRICH_DB to {what} (or unset it)"
    return f"pass --db with {what}"


def check_file(path: Path, origin: str) -> None:
    """Refuse a path that is a folder, not DuckDB, or a DuckDB file cut short (from its header:
    the active database header says how many blocks the file holds).

    Raises:
        StoreError: the file is not a whole DuckDB database.
    """
    if path.is_dir():
        raise StoreError(f"the store {where(path, origin)} is a folder",
                         use_another(origin, f"a file name (e.g. {path / 'enrich.duckdb'})"))
    try:
        with path.open("rb") as handle:
            header = handle.read(3 * _BLOCK_HEADER)
            size = path.stat().st_size
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return  # missing: created; no access: DuckDB's own error says so
    if not header:
        return  # an empty file is a new store
    if header[8:12] != b"DUCK":
        raise StoreError(f"{where(path, origin)} is not a DuckDB file", use_another(origin))
    if len(header) < 3 * _BLOCK_HEADER:
        raise StoreError(f"{where(path, origin)} is a damaged DuckDB file: it is {size:,} bytes, "
                         "shorter than DuckDB's headers (cut short?); enrich leaves it as it is",
                         "restore it from a backup, or " + use_another(origin))
    # A file cut short further on is found when DuckDB reads it (its catalog, the blocks its
    # tables use: check_schema). A partial block at the end is not damage: a write that failed
    # (disk full) leaves one, and DuckDB never committed it.


def open_error(path: Path, origin: str, exc: Exception) -> StoreError | None:
    """The one-line error for a file DuckDB cannot open because of what is in it (damaged,
    newer DuckDB); None for other problems (locks, permissions, disk)."""
    text = " ".join(str(exc).split())
    if "Trying to read a database file with version number" in text or \
            "Failed to deserialize" in text:
        reason = text.split(". ")[0].removeprefix("IO Error: ")
        return StoreError(f"{where(path, origin)} was written by another version of DuckDB "
                          f"({reason})", "use the enrich (and duckdb) that wrote it, or "
                          + use_another(origin))
    if any(sign in text for sign in ("Corrupt database file", "Could not read enough bytes",
                                     "not a valid DuckDB database")):
        reason = text.removeprefix("Error: ").removeprefix("IO Error: ")[:160]
        return StoreError(f"{where(path, origin)} is a damaged DuckDB file ({reason}); enrich "
                          "leaves it as it is", "restore it from a backup, or "
                          + use_another(origin))
    return None


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, frozenset[str]]:
    rows = con.execute("SELECT c.table_name, c.column_name FROM duckdb_columns() c JOIN "
                       "duckdb_tables() t USING (database_name, schema_name, table_name) "
                       "WHERE c.database_name = current_database() AND c.schema_name = 'main'"
                       ).fetchall()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return {t: frozenset(c) for t, c in tables.items()}


def check_schema(con: duckdb.DuckDBPyConnection, path: Path, origin: str,
                 any_tables: bool = False) -> int:
    """The store's migration version (0: an empty DuckDB file, a new store), after checking
    that its tables are ours, whole, and that no migration is newer than this enrich.

    Args:
        con: a connection to the file.
        path: the file, named in errors.
        origin: ``--db`` or ``ENRICH_DB``, named in errors.
        any_tables: accept a database without enrich tables (version 0; its blocks are still
            checked), for readers of their own tables.

    Raises:
        StoreError: another program's database, a damaged file, or a store from a newer
            enrich.
    """
    try:
        return _check_schema(con, path, origin, any_tables)
    except duckdb.Error as exc:
        raise open_error(path, origin, exc) or StoreError(
            f"cannot read the store {where(path, origin)}: {str(exc).splitlines()[0]}",
            "restore it from a backup, or " + use_another(origin)) from None


def _check_schema(con: duckdb.DuckDBPyConnection, path: Path, origin: str,
                  any_tables: bool = False) -> int:
    tables = _tables(con)
    if not tables:
        return 0
    if "schema_migrations" not in tables and any_tables:
        _check_blocks(con, path, origin, sorted(tables))
        return 0
    if "schema_migrations" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise StoreError(f"{where(path, origin)} is a DuckDB database but not an enrich store "
                         f"(it has tables {shown} and no schema_migrations); enrich leaves it "
                         "as it is", use_another(origin, "a new file name"))
    if not _MIGRATION_COLUMNS <= tables["schema_migrations"]:
        raise StoreError(f"{where(path, origin)} is not an enrich store (its schema_migrations "
                         "table is another program's); enrich leaves it as it is",
                         use_another(origin, "a new file name"))
    applied = [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()]
    known = MIGRATIONS[-1][0]
    version = max(applied, default=0)
    if version == 0 and len(tables) > 1:
        others = sorted(set(tables) - {"schema_migrations"})
        raise StoreError(f"{where(path, origin)} is not an enrich store (it has tables "
                         f"{', '.join(others[:5])} but no migration applied); enrich leaves it "
                         "as it is", use_another(origin, "a new file name"))
    if version > known:
        raise StoreError(f"{where(path, origin)} was written by a newer enrich (store version "
                         f"{version}; this enrich knows versions up to {known})",
                         "upgrade enrich, or " + use_another(origin, "another file"))
    for table, columns in sorted(table_columns(version).items()):
        missing = sorted(columns - tables.get(table, frozenset()))
        if missing:
            what = (f"it has no table `{table}`" if table not in tables
                    else f"its table `{table}` has no column `{missing[0]}`")
            raise StoreError(f"{where(path, origin)} is not an enrich store ({what}); enrich "
                             "leaves it as it is", use_another(origin, "a new file name"))
    _check_blocks(con, path, origin, sorted(tables))
    return version


def _check_blocks(con: duckdb.DuckDBPyConnection, path: Path, origin: str,
                  tables: list[str]) -> None:
    """Refuse a file cut short on a block boundary: its catalog reads, but blocks its tables
    point to are gone (DuckDB would only fail when a query reads them, mid-run)."""
    block_size = con.execute("SELECT block_size FROM pragma_database_size() WHERE "
                             "database_name = current_database()").fetchone()
    parts = " UNION ALL ".join(
        "SELECT max(greatest(block_id, coalesce(list_max(additional_block_ids), -1))) AS b "
        "FROM pragma_storage_info('" + t.replace("'", "''") + "') WHERE persistent"
        for t in tables)
    highest = con.execute(f"SELECT max(b) FROM ({parts})").fetchone()
    if not block_size or not highest or highest[0] is None:
        return
    needed = 3 * _BLOCK_HEADER + (int(highest[0]) + 1) * int(block_size[0])
    size = path.stat().st_size
    if size < needed:
        raise StoreError(f"{where(path, origin)} is a damaged DuckDB file: it is {size:,} bytes "
                         f"but its tables use {needed:,} (cut short?); enrich leaves it as it is",
                         "restore it from a backup, or " + use_another(origin))


def inspect_store(path: Path, origin: str) -> int:
    """Open an existing store read-only and check it (see :func:`check_schema`).

    Returns:
        The store's migration version.

    Raises:
        StoreError: the file is not a whole DuckDB database, not ours, or newer.
        duckdb.Error: DuckDB could not open it for another reason (a lock, permissions).
    """
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        problem = open_error(path, origin, exc)
        if problem is not None:
            raise problem from None
        raise
    try:
        return check_schema(con, path, origin)
    finally:
        con.close()
