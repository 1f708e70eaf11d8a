"""The run's single writer task: buffers results and commits them to DuckDB in batches.

Rows are appended to a :class:`PendingWrites` buffer; the writer swaps the buffer out and writes
it in one transaction (in a worker thread, so the event loop keeps serving requests) every
``interval`` seconds, or sooner once ``max_rows`` rows wait. Counters and the progress bar are
updated only after a commit: what they show is what a crash would keep.

While one transaction is being written, results keep arriving. When the store falls behind (a
checkpoint of a large store, a slow disk) the producer waits in :meth:`BatchWriter.room` once
``high_water`` rows are buffered, so memory stays bounded (before, a 1,000,000-row run could
buffer hundreds of thousands of rows: 800 MB peak).
"""

import asyncio
from collections.abc import Callable

from enrich.errors import EnrichError
from enrich.progress import RunCounters, RunProgress
from enrich.store import PendingWrites, Store


class BatchWriter:
    """Buffered, batched, durable writes for one run.

    Args:
        store: the writable store.
        run_id: the run every row belongs to.
        counters: updated after each commit.
        progress: redrawn after each commit.
        on_error: called with the store error when a write fails (the run then stops).
        max_rows: flush as soon as this many rows wait.
        interval: flush at least this often (seconds).
        on_commit: called with each batch once it is committed.
        high_water: rows buffered at most before new requests wait (default 16 × ``max_rows``).
    """

    def __init__(self, store: Store, run_id: str, counters: RunCounters, progress: RunProgress,
                 on_error: Callable[[EnrichError], None], max_rows: int = 512,
                 interval: float = 0.2,
                 on_commit: Callable[[PendingWrites], None] | None = None,
                 high_water: int | None = None):
        self.store = store
        self.run_id = run_id
        self.counters = counters
        self.progress = progress
        self.on_error = on_error
        self.max_rows = max_rows
        self.interval = interval
        self.on_commit = on_commit
        self.high_water = high_water or 16 * max_rows
        self.pending = PendingWrites(run_id)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    def row_added(self) -> None:
        """Call after adding rows: wakes the writer when the buffer is full."""
        if self.pending.rows >= self.max_rows:
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def room(self) -> None:
        """Return once fewer than ``high_water`` rows wait to be written (at once, normally)."""
        while self.pending.rows >= self.high_water and not self._stopping:
            self._drained.clear()
            self._wake.set()
            await self._drained.wait()

    async def stop(self) -> None:
        """Finish the write in progress (never cancelled half-way), then flush the rest."""
        self._stopping = True
        self._wake.set()
        self._drained.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write everything buffered in one transaction."""
        if self.pending.empty():
            return
        batch, self.pending = self.pending, PendingWrites(self.run_id)
        self._drained.set()
        try:
            await asyncio.to_thread(self.store.write, batch)
        except EnrichError as exc:
            self.on_error(exc)
            return
        if self.on_commit is not None:
            self.on_commit(batch)
        cached = sum(batch.outputs["cached"])
        c = self.counters
        c.cached += cached
        c.ok += len(batch.outputs["row_id"]) - cached
        c.failed += len(batch.failures["row_id"])
        for kind in batch.failures["error_kind"]:
            c.failures_by_kind[kind] = c.failures_by_kind.get(kind, 0) + 1
        self.progress.update(c)
