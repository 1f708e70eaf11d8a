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
import signal
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console

from enrich.backends.base import Backend, LLMRequest, LLMResult
from enrich.batch_writer import BatchWriter
from enrich.errors import BackendError, ConfigError, EnrichError
from enrich.plan import RunPlan
from enrich.progress import RunCounters, RunProgress
from enrich.prompts import RenderError
from enrich.repair import repair_json_text
from enrich.schema_registry import OutputInvalid
from enrich.store import PendingWrites, Store, now_us
from enrich.store.queries import run_counts


@dataclass
class RunSummary:
    """The outcome of one ``enrich run`` (counts are for the whole run, resumed parts too)."""

    run_id: str
    job_name: str
    status: str
    rows_total: int
    ok: int
    cached: int
    failed: int
    pending: int
    counters: RunCounters
    resumed: bool
    failures_by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _InFlight:
    messages_json: bytes
    rows: list[tuple[str, str]]  # (row_id, input_json); more than one when rows share a key


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"run-{stamp}-{uuid.uuid4().hex[:6]}"


class Runner:
    """Runs one plan against one backend, writing to one store.

    Args:
        plan: the resolved job.
        store: the writable store.
        backend: a backend, not yet started (the runner starts and closes it).
        console: where to draw progress (None: silent).
        retry_run: re-send only the failed rows of this run instead of reading the source.
        flush_rows: write as soon as this many rows are waiting.
        flush_interval: write at least this often (seconds).
        batch_rows: rows read from the source and checked against the store at once.
    """

    def __init__(self, plan: RunPlan, store: Store, backend: Backend, *,
                 console: Console | None = None, retry_run: str | None = None,
                 flush_rows: int = 512, flush_interval: float = 0.2, batch_rows: int = 1000):
        self.plan = plan
        self.store = store
        self.backend = backend
        self.console = console
        self.retry_run = retry_run
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.batch_rows = batch_rows
        self.counters = RunCounters()
        self.run_id = ""
        self._queue: asyncio.Queue[LLMRequest | None] = asyncio.Queue()
        self._inflight: dict[str, _InFlight] = {}
        self._done_keys: set[str] = set()
        self._outstanding = 0
        self._slots = asyncio.Semaphore(max(64, 4 * getattr(backend, "concurrency", 1)))
        self._producer_done = False
        self._closed = False
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._first_row = True
        self._params_json = orjson.dumps(plan.params).decode()
        self._writer: BatchWriter | None = None

    # -- set-up -----------------------------------------------------------------------------
    def _open_run(self) -> tuple[int, bool]:
        plan, store = self.plan, self.store
        config = plan.run_config()
        store.record_prompt_version(plan.prompt.name, plan.prompt.version,
                                    plan.schema.name, orjson.dumps(plan.prompt.content()).decode())
        if self.retry_run:
            self.run_id = self.retry_run
            store.mark_run(self.run_id, "running")
            return int(run_counts(store, self.run_id)["rows_total"] or 0), True
        existing = store.resumable_run(plan.job.name, plan.fingerprint)
        rows_total = plan.source.count()
        if rows_total == 0:
            raise ConfigError(f"{plan.job.path}: the source `{plan.source.label}` has no rows",
                              "check the file or query (and `limit`)")
        if existing:
            self.run_id = existing
            store.mark_run(existing, "running", rows_total=rows_total)
            return rows_total, True
        self.run_id = new_run_id()
        store.create_run({"run_id": self.run_id, "rows_total": rows_total, **config})
        return rows_total, False

    # -- main -------------------------------------------------------------------------------
    async def run(self) -> RunSummary:
        """Run to the end (or until stopped); returns the run's summary."""
        await self.backend.start()
        try:
            rows_total, resumed = self._open_run()
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
        finally:
            await self.backend.close()
        return self._summary(rows_total, resumed, status)

    async def _run_tasks(self, progress: RunProgress) -> str:
        loop = asyncio.get_running_loop()
        consumer = asyncio.create_task(self._consume())
        self._install_sigint(loop, consumer)
        self._writer = BatchWriter(self.store, self.run_id, self.counters, progress,
                                   self._on_store_error, self.flush_rows, self.flush_interval)
        self._writer.start()
        producer = asyncio.create_task(self._produce())
        try:
            await consumer
        except asyncio.CancelledError:
            self._stop.set()  # second Ctrl-C: what is in flight is dropped, the rest is kept
        except Exception as exc:  # noqa: BLE001 - recorded, re-raised after the final flush
            self._error = self._error or exc
        finally:
            self._remove_sigint(loop)
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            await self._writer.stop()
        if self._error is not None:
            self.store.mark_run(self.run_id, "interrupted", wall_s=self.counters.elapsed())
            raise self._error
        counts = run_counts(self.store, self.run_id)
        complete = counts["pending"] == 0 and not self._stop.is_set()
        status = "finished" if complete else "interrupted"
        self.store.mark_run(self.run_id, status, wall_s=self.counters.elapsed())
        return status

    def _install_sigint(self, loop: asyncio.AbstractEventLoop, consumer: asyncio.Task) -> None:
        def on_sigint() -> None:
            if self._stop.is_set():
                consumer.cancel()  # second Ctrl-C: stop now, in-flight requests are dropped
                return
            self._stop.set()
            if self.console is not None:
                self.console.print("[yellow]Stopping: finishing requests in flight "
                                   "(Ctrl-C again to stop at once)…")
            self._maybe_close_stream()

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread or not supported: Ctrl-C raises as usual

    @staticmethod
    def _remove_sigint(loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError, ValueError):
            pass

    # -- producer -----------------------------------------------------------------------------
    async def _produce(self) -> None:
        try:
            async for batch in self._source_batches():
                if self._stop.is_set():
                    break
                await self._enqueue_batch(batch)
        except Exception as exc:  # noqa: BLE001 - recorded, re-raised by _run_tasks
            self._error = exc
            self._stop.set()
        finally:
            self._producer_done = True
            self._maybe_close_stream()

    async def _source_batches(self) -> Any:
        id_column = self.plan.job.source.id_column
        if self.retry_run:
            rows = self.store.sql("SELECT row_id, input FROM failures WHERE run_id = ? "
                                  "ORDER BY created_at", [self.run_id]).fetchall()
            for start in range(0, len(rows), self.batch_rows):
                yield [(rid, orjson.loads(inp)) for rid, inp in rows[start:start + self.batch_rows]]
            return
        iterator = self.plan.source.batches(self.batch_rows)
        while True:
            batch = await asyncio.to_thread(next, iterator, None)
            if batch is None:
                return
            ids = [str(row[id_column]) for row in batch]
            done = await asyncio.to_thread(self.store.done_row_ids, self.run_id, ids)
            todo = [(rid, row) for rid, row in zip(ids, batch, strict=True) if rid not in done]
            if todo:
                yield todo

    def _render(self, row_id: str, row: dict[str, Any]) -> tuple[list[dict[str, str]], bytes]:
        variables = self.plan.task.variables(row)
        try:
            messages = self.plan.prompt.render(variables)
        except RenderError as exc:
            if self._first_row:
                raise ConfigError(f"row {row_id}: {exc}",
                                  f"fix prompts/{self.plan.prompt.name}.yaml or the source "
                                  f"columns ({', '.join(self.plan.source.columns)})") from exc
            raise
        self._first_row = False
        return messages, orjson.dumps(messages)

    async def _enqueue_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        plan, now = self.plan, now_us()
        rendered = []
        for row_id, row in batch:
            input_json = orjson.dumps(row, default=str).decode()
            try:
                messages, messages_json = self._render(row_id, row)
            except RenderError as exc:
                self._buffer.add_failure((self.run_id, row_id, None, "template_error",
                                           str(exc), None, 0, input_json, now))
                continue
            rendered.append((row_id, messages, messages_json, plan.request_key(messages_json),
                             input_json))
        keys = [r[3] for r in rendered]
        known = await asyncio.to_thread(self.store.known_keys, keys,
                                        not self.retry_run) if keys else {}
        for row_id, messages, messages_json, key, input_json in rendered:
            if self._stop.is_set():
                return
            if key in self._done_keys or (key in known and known[key] is None):
                self._buffer.add_output(row_id, key, True, input_json, now)
                continue
            if key in known:  # failed before: kept as a failure until `enrich retry`
                kind, message = known[key] or ("", "")
                self._buffer.add_failure((self.run_id, row_id, key, kind, message, None, 0,
                                           input_json, now))
                continue
            inflight = self._inflight.get(key)
            if inflight is not None:
                inflight.rows.append((row_id, input_json))
                continue
            await self._slots.acquire()
            self._inflight[key] = _InFlight(messages_json, [(row_id, input_json)])
            self._outstanding += 1
            self._queue.put_nowait(LLMRequest(key, row_id, messages, plan.params,
                                              plan.schema.json_schema, plan.schema.name))
        self._writer_wake()

    # -- consumer -----------------------------------------------------------------------------
    async def _stream(self) -> Any:
        while (request := await self._queue.get()) is not None:
            yield request

    def _maybe_close_stream(self) -> None:
        if self._closed or self._outstanding:
            return
        if self._producer_done or self._stop.is_set():
            self._closed = True
            self._queue.put_nowait(None)

    async def _consume(self) -> None:
        async for result in self.backend.generate(self._stream()):
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
            output = self._validate(content)
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

    def _validate(self, content: str) -> dict[str, Any]:
        try:
            return self.plan.schema.validate_json(content)
        except OutputInvalid:
            repaired = repair_json_text(content)
            if repaired is None:
                raise
            return self.plan.schema.validate_json(repaired)

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
        plan = self.plan
        self._buffer.add_request((
            request.key, self.run_id, request.row_id, plan.prompt.name, plan.prompt.version,
            self.backend.model, self.backend.kind, self._params_json,
            entry.messages_json.decode(), result.raw, result.content,
            orjson.dumps(output).decode(),
            orjson.dumps(result.logprobs).decode() if result.logprobs else None,
            result.prompt_tokens, result.completion_tokens, result.latency_s * 1000.0,
            result.sends, result.finish_reason, now))
        for index, (row_id, input_json) in enumerate(entry.rows):
            self._buffer.add_output(row_id, request.key, index > 0, input_json, now)
        self._done_keys.add(request.key)
        self._settle()

    def _finish_failed(self, request: LLMRequest, kind: str, message: str,
                       content: str | None, sends: int) -> None:
        entry = self._inflight.pop(request.key)
        now = now_us()
        for row_id, input_json in entry.rows:
            self._buffer.add_failure((self.run_id, row_id, request.key, kind, message[:2000],
                                       content, sends, input_json, now))
        self._settle()

    def _settle(self) -> None:
        self._outstanding -= 1
        self._slots.release()
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
