"""The batch engine: source rows → rendered requests → backend → validated outputs → DuckDB.

One producer renders rows and skips what is already stored (set-based, a batch at a time),
the backend works through requests with its own concurrency, one consumer validates results, and
one writer task flushes them to DuckDB in transactions every ``flush_interval`` seconds or
``flush_rows`` rows. A row counts as done only once its transaction commits, so a process killed
at any moment resumes with nothing lost; only requests in flight (or finished but not yet
flushed) at the kill are sent again.

Example:
    >>> plan = RunPlan.build(load_job("jobs/movielens_item_metadata.yaml"), store)
    >>> summary = asyncio.run(Runner(plan, store, backend).run())
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from rich.console import Console

from enrich.backends.base import Backend, LLMRequest, LLMResult
from enrich.batch_writer import BatchWriter
from enrich.errors import BackendError, EnrichError
from enrich.plan import RunPlan
from enrich.progress import RunCounters, RunProgress, RunSummary
from enrich.row_feed import RowFeed, SourceRow
from enrich.run_control import RejectionGuard, StopSignals
from enrich.run_open import open_run, replayable_run
from enrich.schema_registry import OutputInvalid
from enrich.store import PendingWrites, Store, now_us
from enrich.store.queries import run_counts

BackendFactory = Callable[[], Backend]


@dataclass(slots=True)
class _InFlight:
    messages_json: bytes
    rows: list[tuple[str, str]]  # (row_id, input_json); more than one when rows share a key


class Runner:
    """Runs one plan against one backend, writing to one store.

    Args:
        plan: the resolved job.
        store: the writable store.
        backend: a backend, not yet started, or a function that makes one. The runner makes
            and starts it only when the first request has to be sent (a rerun whose rows are
            all stored, or a replay of a finished run, never imports a backend library, loads
            a model or reaches a server) and closes it at the end.
        console: where to draw progress (None: silent).
        retry_run: re-send only the failed rows of this run instead of reading the source.
        flush_rows: write as soon as this many rows are waiting.
        flush_interval: write at least this often (seconds).
        batch_rows: rows read from the source and checked against the store at once.
    """

    def __init__(self, plan: RunPlan, store: Store, backend: Backend | BackendFactory, *,
                 console: Console | None = None, retry_run: str | None = None,
                 flush_rows: int = 512, flush_interval: float = 0.2, batch_rows: int = 1000):
        self.plan = plan
        self.store = store
        self.backend: Backend | None = None
        self._make_backend: BackendFactory | None = None
        if callable(getattr(backend, "generate", None)):
            self.backend = cast(Backend, backend)
        else:
            self._make_backend = cast(BackendFactory, backend)
        self.console = console
        self.retry_run = retry_run
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.batch_rows = batch_rows
        self.counters = RunCounters()
        self.run_id = ""
        self._queue: asyncio.Queue[LLMRequest | None] = asyncio.Queue()
        self._inflight: dict[str, _InFlight] = {}
        # keys answered in this process whose commit the producer's last store lookup may not
        # have seen; pruned once committed (the store answers for them from then on)
        self._done_keys: set[str] = set()
        self._committed_keys: list[list[str]] = []
        self._failed_keys: dict[str, tuple[str, str]] = {}
        self._guard = RejectionGuard()
        self._outstanding = 0
        # at most this many requests outstanding; once full, the producer waits until half
        # have finished (one wake-up per burst, not one per row as with a semaphore)
        self._max_outstanding = max(64, 4 * getattr(backend, "concurrency",
                                                    plan.job.concurrency))
        self._room = asyncio.Event()
        self._producer_done = False
        self._closed = False
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._params_json = orjson.dumps(plan.params).decode()
        self._writer: BatchWriter | None = None

    # -- main -------------------------------------------------------------------------------
    async def run(self) -> RunSummary:
        """Run to the end (or until stopped); returns the run's summary.

        A new run that fails before storing its first row (a template error on the first row,
        a key the server rejects, ...) is removed again: the store is left as it was.
        """
        previous = None if self.retry_run else replayable_run(self.plan, self.store)
        if previous is not None:
            return await self._replay(*previous)
        if self.retry_run:
            rows_total = int(run_counts(self.store, self.retry_run)["rows_total"] or 0)
        else:  # checked before anything is started or written
            rows_total = await asyncio.to_thread(self.plan.count_rows)
        self.store.reserve_memory(rows_total)
        resumed = True
        try:
            self.run_id, resumed = open_run(self.plan, self.store, rows_total, self.retry_run)
            self.plan.task.prepare(self.plan, self.store)
            before = run_counts(self.store, self.run_id)
            self.counters.already_done = before["ok"] + before["cached"] + before["failed"]
            if self.retry_run:
                self.counters.already_done -= before["failed"]
            description = f"{self.plan.job.name} ({self.run_id})"
            console = self.console
            with RunProgress(rows_total, description, console) as progress:
                status = await self._run_tasks(progress)
            if status == "finished":
                await asyncio.to_thread(self.plan.task.finalize, self.store, self.run_id,
                                        self.console)
        except BaseException:
            if not resumed and self.run_id:
                with contextlib.suppress(EnrichError):
                    self.store.discard_run(self.run_id)
            raise
        finally:
            if self.backend is not None:
                await self.backend.close()
        return self._summary(rows_total, resumed, status)

    async def _replay(self, previous: str, rows_total: int) -> RunSummary:
        """A new run holding the rows of ``previous`` as cache hits, copied in SQL: no source
        read, no rendering, no backend (a 100,000-row rerun in well under a second)."""
        self.store.reserve_memory(rows_total)
        self.run_id, _ = open_run(self.plan, self.store, rows_total)
        try:
            outputs, failures = self.store.replay_run(previous, self.run_id)
        except BaseException:
            with contextlib.suppress(EnrichError):
                self.store.discard_run(self.run_id)
            raise
        self.counters.cached, self.counters.failed = outputs, failures
        self.plan.task.prepare(self.plan, self.store)
        await asyncio.to_thread(self.plan.task.finalize, self.store, self.run_id, self.console)
        self.store.mark_run(self.run_id, "finished", wall_s=self.counters.elapsed())
        return self._summary(rows_total, False, "finished")

    async def _run_tasks(self, progress: RunProgress) -> str:
        consumer = asyncio.create_task(self._consume())
        signals = StopSignals(self._on_stop_signal, consumer.cancel)
        signals.install()
        self._writer = BatchWriter(self.store, self.run_id, self.counters, progress,
                                   self._on_store_error, self.flush_rows, self.flush_interval,
                                   on_commit=self._on_commit)
        self._writer.start()
        producer = asyncio.create_task(self._produce())
        try:
            await consumer
        except asyncio.CancelledError:
            self._stop.set()  # second Ctrl-C: what is in flight is dropped, the rest is kept
        except Exception as exc:  # noqa: BLE001 - recorded, re-raised after the final flush
            self._error = self._error or exc
        finally:
            signals.remove()
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            if self._error is None:
                for record in self._guard.release():  # the run ended: held failures are real
                    self._buffer.add_failure(record)
            await self._writer.stop()
        if self._error is not None:
            with contextlib.suppress(EnrichError):  # the store may be what failed
                self.store.mark_run(self.run_id, "interrupted", wall_s=self.counters.elapsed())
            raise self._error
        counts = run_counts(self.store, self.run_id)
        complete = counts["pending"] == 0 and not self._stop.is_set()
        status = "finished" if complete else "interrupted"
        self.store.mark_run(self.run_id, status, wall_s=self.counters.elapsed())
        return status

    def _on_stop_signal(self) -> None:
        """First Ctrl-C or SIGTERM: send nothing new, store what is in flight, then stop."""
        self._stop.set()
        if self.console is not None:
            self.console.print("[yellow]Stopping: finishing requests in flight "
                               "(Ctrl-C again to stop at once)…")
        self._maybe_close_stream()

    # -- producer -----------------------------------------------------------------------------
    async def _produce(self) -> None:
        feed = RowFeed(self.plan, self.store, self.run_id, retry_failed=bool(self.retry_run),
                       batch_rows=self.batch_rows)
        try:
            async for batch in feed.batches():
                if self._stop.is_set():
                    break
                await self._enqueue_batch(feed, batch)
        except Exception as exc:  # noqa: BLE001 - recorded, re-raised by _run_tasks
            self._error = exc
            self._stop.set()
        finally:
            self._producer_done = True
            self._maybe_close_stream()

    def _on_commit(self, batch: PendingWrites) -> None:
        if batch.requests["key"]:
            self._committed_keys.append(batch.requests["key"])

    def _forget_committed_keys(self) -> None:
        """Drop committed keys from ``_done_keys``: the store lookup about to run sees them."""
        for keys in self._committed_keys:
            self._done_keys.difference_update(keys)
        self._committed_keys.clear()

    async def _enqueue_batch(self, feed: RowFeed, batch: list[SourceRow]) -> None:
        self._forget_committed_keys()
        plan, now = self.plan, now_us()
        rendered, failures = feed.render(batch, now)
        for record in failures:
            self._buffer.add_failure(record)
        keys = [r.key for r in rendered]
        known = await asyncio.to_thread(self.store.known_keys, keys,
                                        not self.retry_run) if keys else {}
        for row_id, messages, messages_json, key, input_json in rendered:
            if self._stop.is_set():
                return
            if key in self._done_keys or (key in known and known[key] is None):
                self._buffer.add_output(row_id, key, True, input_json, now)
                continue
            failed = self._failed_keys.get(key) or known.get(key)
            if failed is not None:  # failed before: kept as a failure until `enrich retry`
                kind, message = failed
                self._buffer.add_failure((self.run_id, row_id, key, kind, message, None, 0,
                                           input_json, now))
                continue
            inflight = self._inflight.get(key)
            if inflight is not None:
                inflight.rows.append((row_id, input_json))
                continue
            if self._outstanding >= self._max_outstanding:
                self._room.clear()
                await self._room.wait()
            self._inflight[key] = _InFlight(messages_json, [(row_id, input_json)])
            self._outstanding += 1
            self._queue.put_nowait(LLMRequest(key, row_id, messages, plan.params,
                                              plan.schema.json_schema, plan.schema.name))
        self._writer_wake()

    # -- consumer -----------------------------------------------------------------------------
    async def _next_request(self) -> LLMRequest | None:
        """The next request to send; None when the stream is over. Once stopping, what was
        never sent is dropped here and stays pending."""
        while (request := await self._queue.get()) is not None and self._stop.is_set():
            self._inflight.pop(request.key, None)
            self._settle()
        return request

    async def _stream(self, first: LLMRequest) -> Any:
        request: LLMRequest | None = first
        while request is not None:
            yield request
            request = await self._next_request()

    def _maybe_close_stream(self) -> None:
        if self._closed or self._outstanding:
            return
        if self._producer_done or self._stop.is_set():
            self._closed = True
            self._queue.put_nowait(None)

    async def _consume(self) -> None:
        first = await self._next_request()
        if first is None:  # every row was stored already: no model load, no server needed
            return
        if self.backend is None:
            assert self._make_backend is not None
            self.backend = self._make_backend()
        await self.backend.start()
        async for result in self.backend.generate(self._stream(first)):
            c = self.counters
            c.requests_sent += result.sends
            c.tokens_in += result.prompt_tokens
            c.tokens_out += result.completion_tokens
            if result.error_kind == "fatal":
                self._error = BackendError(result.error or "fatal backend error",
                                           "fix the backend settings, then run again to resume")
                self._stop.set()
                return
            self._handle(result)

    def _handle(self, result: LLMResult) -> None:
        request = result.request
        if not result.ok:
            self._finish_failed(request, result.error_kind or "backend_error",
                                result.error or "", result.content, result.sends)
            return
        content = result.content or ""
        try:
            output = self.plan.validate_output(content)
        except OutputInvalid as exc:
            kind = exc.kind
            if not content.strip():
                kind = "empty_output"
            elif result.finish_reason == "length":
                kind = "truncated"
            if request.attempt < self.plan.job.repair_attempts:
                self._reask(request, content, exc.message)
                return
            self._finish_failed(request, kind, exc.message, content, result.sends)
            return
        self._finish_ok(result, self.plan.task.postprocess(output, result))

    def _reask(self, request: LLMRequest, content: str, problem: str) -> None:
        messages = [*request.messages, {"role": "assistant", "content": content},
                    {"role": "user", "content": f"That answer is not valid ({problem}). Reply "
                                                "again with only the JSON object, matching the "
                                                "schema exactly."}]
        self._queue.put_nowait(LLMRequest(request.key, request.row_id, messages, request.params,
                                          request.schema, request.schema_name,
                                          request.attempt + 1))

    def _finish_ok(self, result: LLMResult, output: dict[str, Any]) -> None:
        request, now = result.request, now_us()
        entry = self._inflight.pop(request.key)
        plan, backend = self.plan, self.backend
        assert backend is not None  # a result came from it
        self._buffer.add_request((
            request.key, self.run_id, request.row_id, plan.prompt.name, plan.prompt.version,
            backend.model, backend.kind, self._params_json,
            entry.messages_json.decode(), result.raw, result.content,
            orjson.dumps(output).decode(),
            orjson.dumps(result.logprobs).decode() if result.logprobs else None,
            result.prompt_tokens, result.completion_tokens, result.latency_s * 1000.0,
            result.sends, result.finish_reason, now))
        for index, (row_id, input_json) in enumerate(entry.rows):
            self._buffer.add_output(row_id, request.key, index > 0, input_json, now)
        self._done_keys.add(request.key)
        if self._guard.active:  # the server accepts our requests: earlier 400s were the rows'
            for record in self._guard.release():
                self._buffer.add_failure(record)
        self._settle()

    def _finish_failed(self, request: LLMRequest, kind: str, message: str,
                       content: str | None, sends: int) -> None:
        entry = self._inflight.pop(request.key)
        now = now_us()
        self._failed_keys[request.key] = (kind, message[:2000])
        records = [(self.run_id, row_id, request.key, kind, message[:2000], content, sends,
                    input_json, now) for row_id, input_json in entry.rows]
        if not self._guard.hold(kind, message, records):
            for record in records:
                self._buffer.add_failure(record)
        elif self._guard.tripped:
            self._error = BackendError(
                f"the server rejected the first {self._guard.rejected} requests "
                f"({self._guard.first_error})", "fix the job's parameters or schema (or the "
                "server), then run again; nothing was stored for those rows")
            self._stop.set()
        self._settle()

    def _settle(self) -> None:
        self._outstanding -= 1
        if self._outstanding <= self._max_outstanding // 2:
            self._room.set()
        if self._buffer.rows >= self.flush_rows:
            self._writer_wake()
        self._maybe_close_stream()

    @property
    def _buffer(self) -> PendingWrites:
        assert self._writer is not None
        return self._writer.pending

    def _writer_wake(self) -> None:
        if self._writer is not None:
            self._writer.wake()

    def _on_store_error(self, exc: EnrichError) -> None:
        self._error = exc
        self._stop.set()
        self._maybe_close_stream()

    def _summary(self, rows_total: int, resumed: bool, status: str) -> RunSummary:
        counts = run_counts(self.store, self.run_id)
        return RunSummary(self.run_id, self.plan.job.name, status, rows_total, counts["ok"],
                          counts["cached"], counts["failed"], counts["pending"], self.counters,
                          resumed, counts["failures_by_kind"])
