"""Everything a run needs, resolved and checked before the first request is sent.

A :class:`RunPlan` loads the job's prompt and schema, merges sampling parameters (job over
prompt defaults), opens the source and checks ids, and derives the two hashes that make runs
resumable and requests cacheable:

- the **job fingerprint** (source and, for a single file, its size and modification time,
  prompt version, schema, backend, model, parameters, limit): re-running the same configuration
  resumes its unfinished run; a changed source file starts a new run, which takes every request
  answered before from the cache;
- the **request key prefix** (model, parameters, schema, prompt version); a request's cache key
  is the hash of this prefix and the rendered messages.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from enrich.errors import ConfigError
from enrich.jobs import JobSpec
from enrich.prompt_versions import load_prompt
from enrich.prompts import Messages, PromptFile, RenderError, shadowed_columns
from enrich.repair import repair_json_text
from enrich.schema_registry import OutputInvalid, OutputSchema, SchemaRegistry
from enrich.sources import RowSource
from enrich.store import Store
from enrich.stored_rows import StoredRows
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
    source: "RowSource | StoredRows"
    fingerprint: str
    key_prefix: bytes
    task: Task

    @classmethod
    def build(cls, job: JobSpec, store: Store | None = None,
              retry_run: str | None = None) -> "RunPlan":
        """Resolve and check everything (raises ConfigError / SourceError with hints).

        ``prompt: NAME@VERSION`` runs that version from the store's prompt history (or git);
        with ``retry_run`` the rows are that run's stored failures (their recorded inputs),
        so the source file is not read at all.
        """
        prompt = load_prompt(job.root, job.prompt, store)
        schema = SchemaRegistry(job.root / "schemas").get(job.schema_name or prompt.schema_name)
        params = job.params.merged_over(prompt.params).model_dump(exclude_none=True)
        if retry_run is not None and store is not None:
            source: RowSource | StoredRows = StoredRows(job, store, retry_run)
        else:
            source = RowSource(job, store.reader() if store else None,
                               store.path if store else None)
            source.check_ids()
        backend = job.backend
        version = source.version()  # a changed source file is a new run (on the cache)
        fingerprint = _hash(job.name, source.label, job.source.id_column, job.source.columns,
                            job.limit, prompt.version, schema.fingerprint, backend.kind,
                            backend.model, backend.base_url, params, job.task_options,
                            *([version] if version else []),
                            *([("types", job.source.types)] if job.source.types else []))
        key_prefix = orjson.dumps([backend.model, params, schema.fingerprint, prompt.version],
                                  option=orjson.OPT_SORT_KEYS)
        task = get_task(job.task or prompt.task, job.task_options)
        return cls(job, prompt, schema, params, source, fingerprint, key_prefix, task)

    def count_rows(self) -> int:
        """Rows the job covers (after ``limit``); an empty source is an error."""
        rows = self.source.count()
        if rows == 0:
            raise ConfigError(f"{self.job.path}: the source `{self.source.label}` has no rows",
                              "check the file or query (and `limit`)")
        return rows

    def validate_output(self, content: str) -> dict[str, Any]:
        """Generated text → validated output, after a local repair (code fences, a sentence
        around the JSON, an object cut off at ``max_tokens``) if the text fails as it is.

        Raises:
            OutputInvalid: the text is not a valid output even after repair.
        """
        try:
            return self.schema.validate_json(content)
        except OutputInvalid:
            repaired = repair_json_text(content)
            if repaired is None:
                raise
            return self.schema.validate_json(repaired)

    def render(self, row_id: str, row: dict[str, Any], strict: bool = False) -> Messages:
        """The chat messages for one source row.

        Raises:
            RenderError: the row cannot be rendered (a row-level failure).
            ConfigError: the same, with ``strict`` (the first row): the template itself is
                wrong, so the job stops before anything is sent.
        """
        try:
            variables = self.task.variables(row)
            if strict:
                self._check_shadowing(row, variables)
            return self.prompt.render(variables)
        except RenderError as exc:
            if strict:
                raise ConfigError(f"row {row_id}: {exc}",
                                  f"fix prompts/{self.prompt.name}.yaml or the source columns "
                                  f"({', '.join(self.source.columns)})") from exc
            raise

    def _check_shadowing(self, row: dict[str, Any], variables: dict[str, Any]) -> None:
        """Refuse a source column that a template variable of the same name hides."""
        told: set[str] = set()
        for value in self.task.template_options().values():
            told.update(v for v in (value if isinstance(value, list) else [value])
                        if isinstance(v, str))
        shadowed = shadowed_columns(row, variables, told)
        if shadowed:
            name = shadowed[0]
            what = {"row": "the whole row", "options": "the job's task_options"}.get(
                name, f"set by task `{self.task.name}`")
            raise ConfigError(
                f"{self.job.path}: source column `{name}` has the name of a template variable "
                f"({{{{ {name} }}}} is {what}), so the template could not show the column",
                "rename the column (or leave it out with `source.columns`)")

    def prompt_too_long(self, row_id: str, messages: Messages) -> str | None:
        """Why a rendered prompt is too long to send (over ``max_prompt_chars``), or None."""
        size = sum(len(m["content"]) for m in messages)
        limit = self.job.max_prompt_chars
        if size <= limit:
            return None
        return (f"row {row_id}: the rendered prompt is {size:,} characters, over "
                f"`max_prompt_chars` ({limit:,}); shorten the long column in the template (e.g. "
                "`{{ text | truncate(2000) }}`) or raise `max_prompt_chars` in the job file")

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
