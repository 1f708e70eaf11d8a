"""Everything a run needs, resolved and checked before the first request is sent.

A :class:`RunPlan` loads the job's prompt and schema, merges sampling parameters (job over
prompt defaults), opens the source and checks ids, and derives the two hashes that make runs
resumable and requests cacheable:

- the **job fingerprint** (source, prompt version, schema, backend, model, parameters, limit):
  re-running the same configuration resumes its unfinished run;
- the **request key prefix** (model, parameters, schema, prompt version); a request's cache key
  is the hash of this prefix and the rendered messages.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from enrich.jobs import JobSpec
from enrich.prompts import PromptFile, PromptLibrary
from enrich.schema_registry import OutputSchema, SchemaRegistry
from enrich.sources import RowSource
from enrich.store import Store
from enrich.tasks import Task, get_task


def _hash(*parts: Any, size: int = 16) -> str:
    blob = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(blob, digest_size=size).hexdigest()


@dataclass
class RunPlan:
    """A job resolved against its project folders."""

    job: JobSpec
    prompt: PromptFile
    schema: OutputSchema
    params: dict[str, Any]
    source: RowSource
    fingerprint: str
    key_prefix: bytes
    task: Task

    @classmethod
    def build(cls, job: JobSpec, store: Store | None = None) -> "RunPlan":
        """Resolve and check everything (raises ConfigError / SourceError with hints)."""
        library = PromptLibrary(job.root / "prompts")
        prompt = library.get(job.prompt)
        schema = SchemaRegistry(job.root / "schemas").get(job.schema_name or prompt.schema_name)
        params = job.params.merged_over(prompt.params).model_dump(exclude_none=True)
        source = RowSource(job, store.reader() if store else None, store.path if store else None)
        source.check_ids()
        backend = job.backend
        fingerprint = _hash(job.name, source.label, job.source.id_column, job.source.columns,
                            job.limit, prompt.version, schema.fingerprint, backend.kind,
                            backend.model, backend.base_url, params, job.task_options)
        key_prefix = orjson.dumps([backend.model, params, schema.fingerprint, prompt.version],
                                  option=orjson.OPT_SORT_KEYS)
        task = get_task(job.task or prompt.task, job.task_options)
        return cls(job, prompt, schema, params, source, fingerprint, key_prefix, task)

    def request_key(self, messages_json: bytes) -> str:
        """The cache key of a request with these rendered messages."""
        return hashlib.blake2b(self.key_prefix + messages_json, digest_size=16).hexdigest()

    def run_config(self) -> dict[str, Any]:
        """What is recorded about the run (no secrets: API keys stay in the environment)."""
        job = self.job
        return {
            "job_name": job.name,
            "job_path": str(job.path) if job.path else None,
            "fingerprint": self.fingerprint,
            "task": job.task or self.prompt.task,
            "prompt_name": self.prompt.name,
            "prompt_version": self.prompt.version,
            "schema_name": self.schema.name,
            "backend": job.backend.kind,
            "model": job.backend.model,
            "params": orjson.dumps(self.params).decode(),
            "source": self.source.label,
            "config": job.model_dump_json(by_alias=True),
        }
