"""The batch engine: source rows → rendered requests → backend → validated outputs → DuckDB.

One producer renders rows and skips what is already stored (set-based, a batch at a time),
the backend works through requests with its own concurrency, one consumer validates results, and
one writer task flushes them to DuckDB in transactions every ``flush_interval`` seconds or
``flush_rows`` rows. A row counts as done only once its transaction commits, so a process killed
at any moment resumes with nothing lost; only requests in flight (or finished but not yet
flushed) at the kill are sent again. A first Ctrl-C, SIGTERM or SIGHUP sends nothing new and
gives what is in flight ``grace_s`` seconds (the rest stays pending); a server that stops
answering pauses the run, then stops it with its rows pending (``server_watch.py``).

Example:
    >>> plan = RunPlan.build(load_job("jobs/movielens_item_metadata.yaml"), store)
    ... # doctest: +SKIP
    >>> summary = asyncio.run(Runner(plan, store, backend).run())   # doctest: +SKIP
"""

import asyncio
import contextlib
from typing import Any

import orjson
from rich.console import Console

from enrich.backend_session import BackendFactory, BackendSession
from enrich.backends.base import Backend, LLMRequest, LLMResult
from enrich.batch_writer import BatchWriter
from enrich.errors import BackendError, EnrichError, Interrupted
from enrich.gc_pacing import DEFAULT_GC_YOUNG, paced_collections
from enrich.inflight import InFlightTable, RecentKeys
from enrich.plan import RunPlan
from enrich.progress import RunCounters, RunProgress, RunSummary
from enrich.reask import Rejected, judge
from enrich.request_stream import RequestStream
from enrich.row_feed import RowFeed, SourceRow
from enrich.run_control import RejectionGuard, StopSignals, TaskWatch, until_done, within
from enrich.run_open import already_done, close_run, open_run, replay, replayable_run, summarize
from enrich.store import PendingWrites, Store, now_us
from enrich.store.pending import FailureRow, RequestRow
from enrich.store.queries import run_counts


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
        grace_s: after a stop, how long requests in flight may take to come back.
        server_wait_s: how long to wait for a server that stopped answering (default: the
            job's ``backend.server_wait_s``).
        gc_young: GC young-generation threshold during the run (:mod:`enrich.gc_pacing`).
    """

    def __init__(self, plan: RunPlan, store: Store, backend: Backend | BackendFactory, *,
                 console: Console | None = None, retry_run: str | None = None,
                 flush_rows: int = 512, flush_interval: float = 0.2, batch_rows: int = 1000,
                 grace_s: float = 2.0, server_wait_s: float | None = None,
                 gc_young: int | None = DEFAULT_GC_YOUNG):
        self.plan = plan
        self.store = store
        self.console = console
        self.retry_run = retry_run
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.batch_rows = batch_rows
        self.grace_s = grace_s
        self.gc_young = gc_young
        self.counters = RunCounters()
        self.run_id = ""
        self._requests = RequestStream(on_drop=self._dropped)
        self._session = BackendSession(
            backend, self._requests, plan.job.backend.server_wait_s if server_wait_s is None
            else server_wait_s, self._handle, lambda reason: self._request_stop(), console)
        # at most this many requests outstanding (the producer then waits for half of them)
        self._inflight = InFlightTable(max(64, 4 * getattr(backend, "concurrency",
                                                           plan.job.concurrency)))
        self._done_keys = RecentKeys()
        self._failed_keys: dict[str, tuple[str, str]] = {}
        self._guard = RejectionGuard()
        self._producer_done = False
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._params_json = orjson.dumps(plan.params).decode()
        self._writer: BatchWriter | None = None
        self._signals = StopSignals(self._on_stop_signal,  # (a second signal: stop now)
                                    lambda: self._consumer and self._consumer.cancel())
        self._consumer: asyncio.Task[None] | None = None
        self._abandoned = False

    @property
    def backend(self) -> Backend | None:
        """The backend, once made (None before the first request had to be sent)."""
        return self._session.backend

    # -- main -------------------------------------------------------------------------------
    async def run(self) -> RunSummary:
        """Run to the end (or until stopped); returns the run's summary.

        A new run that fails before storing its first row (a template error on the first row,
        a key the server rejects, ...) is removed again: the store is left as it was. A stop
        signal is counted from the start, never raised inside a DuckDB call (which would turn
        it into an error or lose it); before the run is opened, it raises :class:`Interrupted`.
        """
        self._signals.install()
        try:
            return await self._run()
        finally:
            self._signals.remove()

    async def _run(self) -> RunSummary:
        previous = None if self.retry_run else replayable_run(self.plan, self.store)
        if previous is not None:
            self.run_id = await replay(self.plan, self.store, *previous, self.counters,
                                       self.console)
            return self._summary(previous[1], False, "finished")
        if self.retry_run:
            rows_total = int(run_counts(self.store, self.retry_run)["rows_total"] or 0)
        else:  # checked before anything is started or written
            rows_total = await asyncio.to_thread(self.plan.count_rows)
        if self._stopping():
            raise Interrupted("interrupted before the run started; nothing was stored",
                              "run the same command again to start it")
        resumed = True
        try:
            self.run_id, resumed = open_run(self.plan, self.store, rows_total, self.retry_run)
            self.plan.task.prepare(self.plan, self.store)
            self.counters.already_done = already_done(self.store, self.run_id,
                                                      bool(self.retry_run))
            description = f"{self.plan.job.name} ({self.run_id})"
            with RunProgress(rows_total, description, self.console) as bar, \
                    paced_collections(self.gc_young):
                status = await self._run_tasks(bar)
            if status == "finished":
                await asyncio.to_thread(self.plan.task.finalize, self.store, self.run_id,
                                        self.console, self.backend)
        except BaseException:
            if not resumed and self.run_id:
                with contextlib.suppress(EnrichError):
                    self.store.discard_run(self.run_id)
            raise
        finally:
            await self._session.close(self._abandoned)
        return self._summary(rows_total, resumed, status)

    async def _run_tasks(self, progress: RunProgress) -> str:
        self._writer = BatchWriter(self.store, self.run_id, self.counters, progress,
                                   self._on_store_error, self.flush_rows, self.flush_interval,
                                   on_commit=lambda b: self._done_keys.committed(
                                       b.requests["key"]))
        tasks = TaskWatch(self._on_task_died)
        tasks.install()  # before the backend's tasks exist
        consumer = asyncio.create_task(self._consume(), name="enrich-consumer")
        producer = asyncio.create_task(self._produce(), name="enrich-producer")
        monitor = asyncio.create_task(progress.show_notes(self.counters, self._session.note),
                                      name="enrich-notes")
        tasks.ignore.update((consumer, producer, monitor))
        self._consumer = consumer
        self._writer.start()
        try:
            await until_done(consumer, self._stop, self.grace_s)
        except Exception as exc:  # noqa: BLE001 - recorded, re-raised after the final flush
            self._error = self._error or exc
        finally:
            self._abandoned = (consumer.cancelled() or not consumer.done()) and \
                self._requests.out > 0  # a dropped request may still be generating
            if self._abandoned:
                self._session.abort()
            tasks.remove()
            for task in (producer, monitor):
                task.cancel()
            await asyncio.wait({producer, monitor}, timeout=1.0)
            await self._session.stop_watching()
            if self._error is None:
                for record in self._guard.release():  # the run ended: held failures are real
                    self._buffer.add_failure(record)
            await self._writer.stop()
        return self._close_run()

    def _close_run(self) -> str:
        """Mark the run finished or interrupted; raise what stopped it, if anything did."""
        if self._error is not None:
            with contextlib.suppress(EnrichError):  # the store may be what failed
                self.store.mark_run(self.run_id, "interrupted", wall_s=self.counters.elapsed())
            raise self._error
        status, pending = close_run(self.store, self.run_id, self.counters.elapsed(),
                                    self._stop.is_set())
        watch = self._session.watch
        if self._session.gone is not None and watch is not None:
            raise BackendError(f"the server at {watch.url} stopped answering "
                               f"({self._session.gone}); {pending} rows pending",
                               "run the same command again to resume once it is back")
        return status

    def _stopping(self) -> bool:
        """A stop was asked (a signal counts at once, before the loop runs its callback)."""
        return self._stop.is_set() or self._signals.received > 0

    def _request_stop(self) -> None:
        """Send nothing new (queued requests are dropped); the grace period starts. An
        in-process model is told to stop at once: its one answer in progress stays pending."""
        self._stop.set()
        self._requests.stop()
        if self._session.in_process():
            self._session.abort()

    def _on_stop_signal(self) -> None:
        """First Ctrl-C, SIGTERM or SIGHUP: send nothing new, give what is in flight
        ``grace_s`` to come back and be stored, then stop."""
        self._request_stop()
        if self.console is not None:
            self.console.print(f"[yellow]Stopping: storing the requests in flight (at most "
                               f"{self.grace_s:g} s; Ctrl-C again to stop at once)…")

    def _on_task_died(self, name: str, exc: BaseException) -> None:
        """A task (a backend's worker) ended with an exception nobody handled: its requests
        will never come back, so the run stops instead of waiting for ever."""
        if self._error is None:
            self._error = BackendError(
                f"the backend failed: its task `{name}` raised {type(exc).__name__}: {exc}",
                "the rows it held are pending: run the same command again to resume (and "
                "report this if it happens again)")
        self._request_stop()

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
            self._request_stop()
        finally:
            self._producer_done = True
            self._maybe_close_stream()

    async def _enqueue_batch(self, feed: RowFeed, batch: list[SourceRow]) -> None:
        writer = self._writer
        assert writer is not None
        self._done_keys.prune()
        plan, now = self.plan, now_us()
        rendered, failures = await feed.render(batch, now, self._stopping)
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
            if failed is not None:  # failed for good before: kept until `enrich retry`
                kind, message = failed
                self._buffer.add_failure(FailureRow(
                    run_id=self.run_id, row_id=row_id, key=key, error_kind=kind,
                    message=message, content=None, sends=0, input=input_json, created_at=now))
                continue
            if self._inflight.join(key, row_id, input_json):
                continue
            if writer.pending.rows >= writer.high_water:
                await writer.room()  # the store is behind: wait for it
            await self._inflight.add(key, messages_json, row_id, input_json)
            self._requests.put(LLMRequest(key, row_id, messages, plan.params,
                                          plan.schema.json_schema, plan.schema.name))
        self._writer_wake()

    # -- consumer -----------------------------------------------------------------------------
    def _dropped(self, request: LLMRequest) -> None:
        """A queued request a stop dropped: never sent, its rows stay pending."""
        self._inflight.pop(request.key)
        self._settle()

    def _maybe_close_stream(self) -> None:
        if self._producer_done and not self._inflight.outstanding:
            self._requests.close()

    async def _consume(self) -> None:
        first = await self._requests.next()
        if first is None:  # every row was stored already: no model load, no server needed
            return
        backend = await self._session.start()
        results = backend.generate(self._requests.iterate(first))
        try:
            async for result in results:
                self._requests.returned()
                c = self.counters
                c.requests_sent += result.sends
                c.tokens_in += result.prompt_tokens
                c.tokens_out += result.completion_tokens
                if result.error_kind in ("unanswered", "aborted"):  # not answered: a batch
                    # results file without it, or generation cut by a stop
                    self._dropped(result.request)  # its rows stay pending
                    continue
                if result.error_kind == "fatal":
                    # the backend's message says what to fix; nothing more to add
                    self._error = BackendError(result.error or "fatal backend error", "")
                    self._request_stop()
                    return
                watch = self._session.watch
                if watch is not None:
                    if result.ok:
                        watch.success()
                    elif watch.hold(result):
                        continue  # the server may be down: not the row's failure (yet)
                self._handle(result)
        finally:
            close = getattr(results, "aclose", None)
            if close is not None:
                await within(close(), 1.0)
        if self._requests.out > 0 and not self._stop.is_set():
            self._error = BackendError(f"the backend ended without answering "
                                       f"{self._requests.out} requests",
                                       "their rows are pending: run the same command again "
                                       "to resume (and report this if it happens again)")

    def _handle(self, result: LLMResult) -> None:
        verdict = judge(self.plan, result)
        if isinstance(verdict, Rejected):
            self._finish_failed(result.request, verdict.kind, verdict.message, result.content,
                                result.sends)
        elif isinstance(verdict, LLMRequest):  # a repair re-ask (after a stop: pending)
            self._requests.put(verdict)
        else:
            self._finish_ok(result, self.plan.task.postprocess(verdict, result))

    def _finish_ok(self, result: LLMResult, output: dict[str, Any]) -> None:
        request, now = result.request, now_us()
        entry = self._inflight.pop(request.key)
        assert entry is not None
        plan, backend = self.plan, self.backend
        assert backend is not None  # a result came from it
        params = self._params_json if request.params is plan.params \
            else orjson.dumps(request.params).decode()  # (a truncated answer got more room)
        self._buffer.add_request(RequestRow(
            key=request.key, run_id=self.run_id, row_id=request.row_id,
            prompt_name=plan.prompt.name, prompt_version=plan.prompt.version,
            model=backend.model, backend=backend.kind, params=params,
            messages=entry.messages_json.decode(), response=result.raw,
            content=result.content, output=orjson.dumps(output).decode(),
            logprobs=orjson.dumps(result.logprobs).decode() if result.logprobs else None,
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            latency_ms=result.latency_s * 1000.0, sends=result.sends,
            finish_reason=result.finish_reason, created_at=now))
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
        assert entry is not None
        now = now_us()
        self._failed_keys[request.key] = (kind, message[:2000])
        records = [FailureRow(run_id=self.run_id, row_id=row_id, key=request.key,
                              error_kind=kind, message=message[:2000], content=content,
                              sends=sends, input=input_json, created_at=now)
                   for row_id, input_json in entry.rows]
        if not self._guard.hold(kind, message, records):
            for record in records:
                self._buffer.add_failure(record)
        elif self._guard.tripped:
            self._error = self._guard.error()
            self._request_stop()
        self._settle()

    def _settle(self) -> None:
        self._inflight.settle()
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
        self._request_stop()

    def _summary(self, rows_total: int, resumed: bool, status: str) -> RunSummary:
        return summarize(self.store, self.plan, self.run_id, rows_total, self.counters, resumed,
                         status)

