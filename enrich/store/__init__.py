"""DuckDB storage of runs, requests, outputs and failures (see ``store.py``).

The rule: only Store opens a store file. Every reader and writer of a user's store (the runner,
``enrich status`` and ``export``, evaluation, the dashboard, distillation's ``ViewReader``) goes
through :class:`Store` — ``Store(path, read_only=True)`` for reading — so each one gets its lock
handling ("in use by another process", with the holder's PID), its disk and permission messages
and its checks (a damaged file, another program's database, a store from a newer enrich). Code
outside this package calls ``duckdb.connect()`` only for in-memory work (reading CSV / Parquet
files); ``tests/test_store_access.py`` checks this. A run's counts and tokens have one home as
well: :func:`enrich.store.queries.runs_counts`.
"""

from enrich.store.pending import PendingWrites, now_us
from enrich.store.store import Store, utcnow

__all__ = ["PendingWrites", "Store", "now_us", "utcnow"]
