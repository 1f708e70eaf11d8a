"""DuckDB's memory cap for the writing connection.

Left alone, DuckDB caches table blocks up to 80% of RAM, so a long run's RSS grows with the
store (measured with DuckDB 2.0 here: ~330 MB peak at 100,000 rows). Under a cap it evicts
cached blocks and spills what it must to its temporary directory instead.

Until migration 4 the results tables had primary keys, whose indexes (ART) DuckDB keeps whole
in memory (≈ 70–110 bytes a key) and cannot recover from running out of at COMMIT, so the cap
had to grow with the store (≈ 480 MB for a 1,000,000-row store). Without them nothing DuckDB
must hold grows with the store, and the cap is a constant that keeps a million-row run under
300 MB of RSS; a row with a 10 MB field fits under it. A batch that does not fit (a field of
tens of MB) is written again under half the RAM, then the cap is restored
(:meth:`enrich.store.Store.write`). ``ENRICH_STORE_MEMORY_MB`` sets the cap.
"""

import os

import duckdb

DEFAULT_MB = 48
MIN_MB = 32


def physical_memory_mb() -> int:
    """This machine's RAM in MiB (4 GiB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20)
    except (ValueError, OSError, AttributeError):
        return 4096


def cap_mb(wanted_mb: int | None = None, ram_mb: int | None = None) -> int:
    """The cap in MiB: ``wanted_mb`` (default :data:`DEFAULT_MB`), at least :data:`MIN_MB` and
    never above 80% of RAM."""
    ceiling = int((ram_mb or physical_memory_mb()) * 0.8)
    return max(MIN_MB, min(wanted_mb or DEFAULT_MB, ceiling))


def set_cap(con: duckdb.DuckDBPyConnection, wanted_mb: int | None = None,
            ram_share: float | None = None) -> int:
    """Cap the connection's memory (see :func:`cap_mb`), or at ``ram_share`` of RAM; returns
    the cap in MiB. A ``SET``, not a connect() option: other connections to the file keep
    their settings."""
    mb = int(physical_memory_mb() * ram_share) if ram_share else cap_mb(wanted_mb)
    con.execute(f"SET memory_limit = '{mb}MiB'")
    return mb
