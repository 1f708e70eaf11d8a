"""DuckDB storage of runs, requests, outputs and failures (see ``store.py``)."""

from enrich.store.pending import PendingWrites, now_us
from enrich.store.store import Store, utcnow

__all__ = ["PendingWrites", "Store", "now_us", "utcnow"]
