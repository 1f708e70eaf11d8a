"""The scale-out worker: answers a batch of requests and writes them to a result file.

:class:`GenerateBatch` is what Ray Data's ``map_batches`` runs in each actor (one per worker:
its backend — an HTTP client pool, a llama.cpp model, a ``vllm.LLM`` engine on the actor's GPU —
is started once and reused for every batch). Nothing here imports Ray, so the same class runs
in process in tests.

For each batch of requests (``key``, ``row_id``, ``input``, ``messages``) it renders the row
again with the task's own code (tasks remember what post-processing needs), sends the
rendered messages, validates, and writes one Parquet file of :class:`Answered` rows to
``results_dir`` (under a temporary name, then renamed: a file that exists is whole). It
returns one summary row per batch, which the driver reads for progress.

Example:
    >>> worker = GenerateBatch(spec.model_dump())                                # doctest: +SKIP
    >>> worker({"key": [...], "row_id": [...], "input": [...], "messages": [...]})
    ... # doctest: +SKIP
"""

import asyncio
import os
import tempfile
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson

from enrich.backends import create_backend
from enrich.backends.base import Backend, LLMRequest
from enrich.prompts import RenderError
from enrich.scale.answers import Answered, answer_requests
from enrich.scale.spec import WorkerSpec

ANSWER_COLUMNS = tuple(f.name for f in fields(Answered))


def answers_table(answers: list[Answered], messages: dict[str, str], model: str,
                  backend: str) -> Any:
    """The answers as a pyarrow Table, with each request's rendered messages (as sent the
    first time, before any re-ask) and the model and backend kind."""
    import pyarrow as pa

    columns: dict[str, list[Any]] = {name: [] for name in ANSWER_COLUMNS}
    for answer in answers:
        for name in ANSWER_COLUMNS:
            columns[name].append(getattr(answer, name))
    types = {"ok": pa.bool_(), "sends": pa.int64(), "prompt_tokens": pa.int64(),
             "completion_tokens": pa.int64(), "latency_ms": pa.float64(),
             "created_at": pa.int64()}
    arrays = {name: pa.array(values, type=types.get(name, pa.string()))
              for name, values in columns.items()}
    arrays["messages"] = pa.array([messages.get(a.key) for a in answers], type=pa.string())
    arrays["model"] = pa.array([model] * len(answers), type=pa.string())
    arrays["backend"] = pa.array([backend] * len(answers), type=pa.string())
    return pa.table(arrays)


def write_answers(table: Any, results_dir: Path) -> Path:
    """Write ``table`` to a new file in ``results_dir``, whole or not at all."""
    import pyarrow.parquet as pq

    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"part-{uuid.uuid4().hex}.parquet"
    temporary = results_dir / f".{path.name}.writing"
    pq.write_table(table, temporary)
    os.replace(temporary, path)
    return path


class GenerateBatch:
    """A Ray Data ``map_batches`` callable class (see the module docstring).

    Args:
        spec: a :class:`WorkerSpec`, as a dict.
    """

    def __init__(self, spec: dict[str, Any]):
        self.spec = WorkerSpec.model_validate(spec)
        self.scratch = Path(tempfile.mkdtemp(prefix="enrich-worker-"))
        self.plan = self.spec.plan(self.scratch)
        self.loop = asyncio.new_event_loop()
        job = self.plan.job
        self.backend: Backend = create_backend(
            job.backend, concurrency=job.concurrency, cache_dir=Path(self.spec.cache_dir),
            n_threads=self.spec.n_threads, logprobs=bool(self.plan.params.get("logprobs")))
        self.loop.run_until_complete(self.backend.start())

    def requests(self, batch: dict[str, Any]) -> tuple[list[LLMRequest], list[Answered]]:
        """The batch's requests (rows rendered again for the task), and rows that no longer
        render on this worker (stored as ``template_error`` failures)."""
        plan, schema = self.plan, self.plan.schema
        requests: list[LLMRequest] = []
        failed: list[Answered] = []
        for key, row_id, input_json, messages in zip(
                batch["key"], batch["row_id"], batch["input"], batch["messages"], strict=True):
            try:
                plan.render(str(row_id), orjson.loads(input_json))
            except RenderError as exc:
                failed.append(Answered(str(key), str(row_id), False, 0, None,
                                       error_kind="template_error", error=str(exc)))
                continue
            requests.append(LLMRequest(str(key), str(row_id), orjson.loads(messages),
                                       plan.params, schema.json_schema, schema.name))
        return requests, failed

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        requests, answers = self.requests(batch)
        answers += self.loop.run_until_complete(
            answer_requests(self.plan, self.backend, requests))
        messages = {str(k): str(m) for k, m in zip(batch["key"], batch["messages"], strict=True)}
        table = answers_table(answers, messages, self.backend.model, self.backend.kind)
        path = write_answers(table, Path(self.spec.results_dir))
        ok = sum(1 for a in answers if a.ok)
        return {"file": [str(path)], "requests": [len(batch["key"])], "ok": [ok],
                "failed": [len(answers) - ok], "sends": [sum(a.sends for a in answers)],
                "tokens_in": [sum(a.prompt_tokens for a in answers)],
                "tokens_out": [sum(a.completion_tokens for a in answers)]}

    def close(self) -> None:
        """Stop the backend and drop the scratch folder (tests; Ray just ends the actor)."""
        import shutil

        self.loop.run_until_complete(self.backend.close())
        self.loop.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
