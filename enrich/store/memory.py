"""DuckDB's memory cap for the writing connection, sized from the store's primary-key entries.

Two facts measured with DuckDB 2.0 on this machine shape it:

- Left alone, DuckDB caches table blocks up to 80% of RAM, so a long run's RSS grows with the
  store (100,000 rows: ~330 MB peak; ~260 MB with a 128 MB cap, ~180 MB with 32 MB).
- The primary-key indexes (ART) stay in memory and must fit under the cap, at ~70–110 bytes per
  key: a store with ~1.7 million keys cannot commit under 128 MB ("could not allocate block").
  Worse, after such a failed COMMIT the connection's indexes are inconsistent and the next
  write invalidates the database ("Failed to rollback transaction"). Running out must therefore
  never happen; raising the cap after the fact is not safe.

So the cap is set *before* writing, from the number of index entries the store holds plus what
the run can add, at 160 bytes per entry (about twice the measured need) over a 128 MB base, and
never above 80% of RAM. The base is what one wide row needs: a row with a 10 MB field allocates
32 MB blocks while it is written, and failed under a 64 MB cap. A 100,000-row run gets ~160 MB;
a 5-million-row store about 1.6 GB.
"""

import os

import duckdb

BASE_MB = 128
MIN_MB = 128
BYTES_PER_ENTRY = 160


def physical_memory_mb() -> int:
    """This machine's RAM in MiB (4 GiB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20)
    except (ValueError, OSError, AttributeError):
        return 4096


def cap_mb(index_entries: int, ram_mb: int | None = None) -> int:
    """The memory cap for a store with ``index_entries`` primary-key entries."""
    wanted = BASE_MB + index_entries * BYTES_PER_ENTRY // 2**20
    ceiling = int((ram_mb or physical_memory_mb()) * 0.8)
    return max(MIN_MB, min(wanted, ceiling))


def index_entries(con: duckdb.DuckDBPyConnection) -> int:
    """Rows in the tables with primary keys (from table statistics: no scan)."""
    row = con.execute(
        "SELECT coalesce(sum(estimated_size), 0) FROM duckdb_tables() WHERE database_name = "
        "current_database() AND table_name IN ('requests', 'outputs', 'failures')").fetchone()
    return int(row[0]) if row else 0


def set_cap(con: duckdb.DuckDBPyConnection, extra_entries: int = 0) -> int:
    """Size the cap for the store's entries plus ``extra_entries`` more; returns it (MiB).
    A ``SET``, not a connect() option: other connections to the file keep their settings."""
    mb = cap_mb(index_entries(con) + max(extra_entries, 0))
    con.execute(f"SET memory_limit = '{mb}MiB'")
    return mb
