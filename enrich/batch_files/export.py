"""Writing a job's pending requests as a provider batch file.

Rows are read and rendered exactly as ``enrich run`` reads and renders them (:class:`RowFeed`:
same templates, same cache keys); keys the store has answered, or failed for good, are left
out, rows that render the same messages share one line, and what is left becomes one line per
request: ``custom_id`` = the cache key, ``body`` = the chat-completions body the live HTTP
backend would send (its own parameter and structured-output mappings, ``wire_params`` and
``structured_output_fields``), in the server's dialect:

- ``openai``: OpenAI's Batch API (``max_completion_tokens``, ``response_format`` json_schema,
  strict subset); at most ``max_per_file`` lines per file (the API takes 50,000);
- ``vllm``: ``vllm run-batch`` (``structured_outputs``, or ``response_format`` with the job's
  ``server: vllm-legacy``).

Example:
    >>> summary = asyncio.run(export_requests(plan, store, Path("requests.jsonl"), "openai"))
    ...                                                                     # doctest: +SKIP
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel

from enrich.backends.structured import structured_output_fields
from enrich.backends.wire_params import wire_params
from enrich.batch_files.formats import CHAT_URL
from enrich.errors import ConfigError
from enrich.plan import RunPlan
from enrich.row_feed import RowFeed
from enrich.store import Store, now_us

Format = Literal["openai", "vllm"]
OPENAI_MAX_REQUESTS = 50_000  # per input file (OpenAI's documented limit)


class ExportSummary(BaseModel):
    """What ``enrich batch export`` wrote."""

    job: str
    rows: int = 0  # rows to do (not stored by the job's unfinished run)
    rows_stored: int = 0  # rows the job's unfinished run has stored
    rows_cached: int = 0
    rows_failed_before: int = 0
    rows_not_renderable: int = 0
    requests: int = 0
    files: list[str] = []


def dialect_for(fmt: Format, plan: RunPlan) -> str:
    """The structured-output dialect of a batch file format."""
    if fmt == "openai":
        return "openai"
    return plan.job.backend.server if plan.job.backend.server in ("vllm", "vllm-legacy") \
        else "vllm"


class RequestBodies:
    """Chat-completions bodies for one plan in one dialect (schema fields built once).

    Args:
        plan: the resolved job.
        dialect: ``openai``, ``vllm`` or ``vllm-legacy``.
    """

    def __init__(self, plan: RunPlan, dialect: str):
        self.model = plan.job.backend.model
        self.dialect = dialect
        self.params, self.dropped = wire_params(dialect, self.model, plan.params)
        self.structured = structured_output_fields(dialect, plan.schema.json_schema,
                                                   plan.schema.name)

    def body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, **self.params, **self.structured}


class LineFiles:
    """JSONL output split into files of at most ``max_lines`` lines: ``out``, then
    ``STEM.part2.jsonl``, ... Each file is written under a temporary name and renamed when
    complete, so a file that exists is whole."""

    def __init__(self, out: Path, max_lines: int | None):
        self.out = out
        self.max_lines = max_lines
        self.files: list[Path] = []
        self._lines = 0
        self._handle: Any = None

    def _path(self, number: int) -> Path:
        if number == 1:
            return self.out
        return self.out.with_name(f"{self.out.stem}.part{number}{self.out.suffix}")

    def write(self, line: bytes) -> None:
        if self._handle is None or (self.max_lines and self._lines >= self.max_lines):
            self._finish()
            self.files.append(self._path(len(self.files) + 1))
            self._handle = self._open(self._temporary(self.files[-1]))
            self._lines = 0
        self._handle.write(line + b"\n")
        self._lines += 1

    def close(self) -> list[Path]:
        self._finish()
        return self.files

    def abort(self) -> None:
        """Drop the file being written (the ones finished before stay)."""
        if self._handle is not None:
            self._handle.close()
            self._temporary(self.files.pop()).unlink(missing_ok=True)
            self._handle = None

    def _finish(self) -> None:
        if self._handle is not None:
            self._handle.close()
            os.replace(self._temporary(self.files[-1]), self.files[-1])
            self._handle = None

    @staticmethod
    def _temporary(path: Path) -> Path:
        return path.with_name(f".{path.name}.writing")

    def _open(self, path: Path) -> Any:
        """The file opened for writing, its folder created first."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return path.open("wb")
        except OSError as exc:
            self.files.pop()
            raise ConfigError(f"cannot write {self._path(len(self.files) + 1)} "
                              f"({exc.strerror or exc})", "choose a writable --out") from None


async def export_requests(plan: RunPlan, store: Store, out: Path, fmt: Format,
                          max_per_file: int | None = None,
                          on_rows: Callable[[int], None] | None = None) -> ExportSummary:
    """Write the job's pending requests to ``out`` (more files past ``max_per_file`` lines).

    Args:
        plan: the resolved job.
        store: the job's store (read: what is answered already, what its run has stored).
        out: the first file to write.
        fmt: ``openai`` or ``vllm``.
        max_per_file: lines per file at most (None: one file).
        on_rows: called with the number of rows after each batch (progress).
    """
    plan.task.prepare(plan, store)
    run_id = store.resumable_run(plan.job.name, plan.fingerprint) or ""
    feed = RowFeed(plan, store, run_id)  # (rows that run stored already are skipped)
    bodies = RequestBodies(plan, dialect_for(fmt, plan))
    summary = ExportSummary(job=plan.job.name)
    written: set[str] = set()
    files = LineFiles(out, max_per_file)
    try:
        async for batch in feed.batches():
            rendered, failures = await feed.render(batch, now_us())
            summary.rows += len(batch)
            summary.rows_not_renderable += len(failures)
            known = store.known_keys([r.key for r in rendered]) if rendered else {}
            for item in rendered:
                if item.key in known:
                    if known[item.key] is None:
                        summary.rows_cached += 1
                    else:
                        summary.rows_failed_before += 1
                    continue
                if item.key in written:
                    continue
                written.add(item.key)
                files.write(orjson.dumps({"custom_id": item.key, "method": "POST",
                                          "url": CHAT_URL, "body": bodies.body(item.messages)}))
            if on_rows is not None:
                on_rows(len(batch))
    except BaseException:
        files.abort()
        raise
    summary.files = [str(p) for p in files.close()]
    summary.requests = len(written)
    summary.rows_stored = feed.skipped
    return summary
