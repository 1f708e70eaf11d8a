"""The rows ``enrich retry`` re-sends: a run's failures, with the inputs stored beside them.

Every failure keeps the row it was rendered from (``failures.input``), so a retry renders the
same values again whatever happened to the source file since (edited, moved, deleted). This
stands in for :class:`enrich.sources.RowSource` in a retry's plan.

Example:
    >>> rows = StoredRows(job, store, "run-20261123-204334-32b1d6")   # doctest: +SKIP
    >>> rows.count()                                                    # doctest: +SKIP
    1
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from enrich.jobs import JobSpec

if TYPE_CHECKING:
    from enrich.store import Store


class StoredRows:
    """The failed rows of ``run_id`` as they were read when the run first rendered them.

    Args:
        job: the run's job (its recorded configuration).
        store: the store holding the run.
        run_id: the run whose failures to read.
    """

    def __init__(self, job: JobSpec, store: "Store", run_id: str):
        self.job = job
        self.store = store
        self.run_id = run_id
        row = store.sql("SELECT source FROM runs WHERE run_id = ?", [run_id]).fetchone()
        self.label: str = (row[0] if row and row[0] else None) or job.source.path or ""
        first = store.sql("SELECT input FROM failures WHERE run_id = ? AND input IS NOT NULL "
                          "LIMIT 1", [run_id]).fetchone()
        self.columns: list[str] = list(orjson.loads(first[0])) if first else []

    def version(self) -> None:
        """Stored rows do not change: no file version (and no replay of a retry)."""
        return None

    def check_ids(self) -> None:
        """Stored row ids are unique per run already (the failures table's key)."""

    def count(self) -> int:
        """Failed rows of the run."""
        row = self.store.sql("SELECT count(*) FROM failures WHERE run_id = ?",
                             [self.run_id]).fetchone()
        return int(row[0]) if row else 0

    def batches(self, size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """The stored input rows, ``size`` at a time, oldest failure first."""
        rows = self.store.sql("SELECT input FROM failures WHERE run_id = ? ORDER BY created_at",
                              [self.run_id]).fetchall()
        for start in range(0, len(rows), size):
            yield [orjson.loads(r[0]) for r in rows[start:start + size] if r[0] is not None]
