"""The rows a run still has to do, a batch at a time, rendered into request messages.

The runner's producer reads batches from here, checks their keys against the store and queues
what must be sent. Reading and rendering are kept apart from that bookkeeping: they depend only
on the plan and on what the store already holds.

Example:
    >>> feed = RowFeed(plan, store, run_id)                         # doctest: +SKIP
    >>> async for batch in feed.batches():                          # doctest: +SKIP
    ...     rendered, failures = await feed.render(batch, now_us())
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import orjson

from enrich.errors import ConfigError
from enrich.plan import RunPlan
from enrich.prompts import Messages, RenderError, RenderLimit
from enrich.store import Store
from enrich.store.pending import FailureRow

SourceRow = tuple[str, dict[str, Any]]
_SLICE_S = 0.02  # render at most this long before letting the event loop run


class Rendered(NamedTuple):
    """One row ready to send (or to answer from the store)."""

    row_id: str
    messages: Messages
    messages_json: bytes
    key: str
    input_json: str


class RowFeed:
    """Source rows not yet stored for a run (or a run's failures, for ``enrich retry``).

    Args:
        plan: the resolved job.
        store: the run's store.
        run_id: the run being filled.
        retry_failed: read the run's recorded failures instead of the source.
        batch_rows: rows per batch.
    """

    def __init__(self, plan: RunPlan, store: Store, run_id: str, *, retry_failed: bool = False,
                 batch_rows: int = 1000):
        self.plan = plan
        self.store = store
        self.run_id = run_id
        self.retry_failed = retry_failed
        self.batch_rows = batch_rows
        self.skipped = 0  # source rows the run had stored before
        self._first_row = True

    async def batches(self) -> AsyncIterator[list[SourceRow]]:
        """(row id, row) batches still to do, in source order."""
        if self.retry_failed:
            rows = self.store.sql("SELECT row_id, input FROM failures WHERE run_id = ? "
                                  "ORDER BY created_at", [self.run_id]).fetchall()
            for start in range(0, len(rows), self.batch_rows):
                yield [(rid, orjson.loads(inp)) for rid, inp in rows[start:start + self.batch_rows]]
            return
        id_column = self.plan.job.source.id_column
        iterator = self.plan.source.batches(self.batch_rows)
        # what the run stored before this process started, read once (a query per batch made
        # a resumed 100,000-row job spend seconds skipping its first half); rows whose failure
        # was transient are not done: a rerun sends them again
        done = await asyncio.to_thread(self.store.stored_row_ids, self.run_id, True)
        while True:
            batch = await asyncio.to_thread(next, iterator, None)
            if batch is None:
                return
            ids = [str(row[id_column]) for row in batch]
            todo = [(rid, row) for rid, row in zip(ids, batch, strict=True) if rid not in done]
            self.skipped += len(batch) - len(todo)
            if todo:
                yield todo

    async def render(self, batch: list[SourceRow], now: int,
                     stopped: Callable[[], bool] = lambda: False
                     ) -> tuple[list[Rendered], list[FailureRow]]:
        """Render each row; rows that do not render (a template error, a render limit, a
        prompt over ``max_prompt_chars``) come back as failure records instead.

        Yields to the event loop every few milliseconds (so Ctrl-C is seen while a slow
        template renders), and stops early once ``stopped()``: the rows not rendered yet are
        in neither list (they stay pending).

        Raises:
            ConfigError: the run's first row does not render (the template itself is wrong).
        """
        rendered: list[Rendered] = []
        failures: list[FailureRow] = []
        slice_end = time.perf_counter() + _SLICE_S
        for row_id, row in batch:
            if stopped():
                break
            if time.perf_counter() > slice_end:
                await asyncio.sleep(0)
                slice_end = time.perf_counter() + _SLICE_S
            outcome = self._render_row(row_id, row, now)
            if isinstance(outcome, Rendered):
                rendered.append(outcome)
            else:
                failures.append(outcome)
        return rendered, failures

    def _render_row(self, row_id: str, row: dict[str, Any], now: int
                    ) -> "Rendered | FailureRow":
        plan = self.plan
        input_json = orjson.dumps(row, default=str).decode()
        try:
            messages = plan.render(row_id, row, strict=self._first_row)
            self._first_row = False
        except ConfigError as exc:  # the first row: a render limit is still the row's own
            if not isinstance(exc.__cause__, RenderLimit):
                raise
            return self._failure(row_id, "render_limit", f"row {row_id}: {exc.__cause__}",
                                 input_json, now)
        except RenderLimit as exc:
            return self._failure(row_id, "render_limit", f"row {row_id}: {exc}", input_json,
                                 now)
        except RenderError as exc:
            return self._failure(row_id, "template_error", str(exc), input_json, now)
        too_long = plan.prompt_too_long(row_id, messages)
        if too_long:
            return self._failure(row_id, "prompt_too_long", too_long, input_json, now)
        messages_json = orjson.dumps(messages)
        return Rendered(row_id, messages, messages_json, plan.request_key(messages_json),
                        input_json)

    def _failure(self, row_id: str, kind: str, message: str, input_json: str, now: int
                 ) -> FailureRow:
        return FailureRow(run_id=self.run_id, row_id=row_id, key=None, error_kind=kind,
                          message=message, content=None, sends=0, input=input_json,
                          created_at=now)
