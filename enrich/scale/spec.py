"""What a scale-out worker needs to rebuild the run's plan, shipped as plain data.

A worker on another machine has neither the project folder nor the store, so the driver sends
the job (as JSON), the exact prompt that runs (its recorded content), the text of the
project's schema files, and the sampling parameters and key prefix it derived. The worker
rebuilds a :class:`RunPlan` from them and checks that it got the same prompt version and the
same schema fingerprint as the driver, so it validates exactly as a local run would.

Example:
    >>> spec = WorkerSpec.from_plan(plan, run_id, results_dir, settings)   # doctest: +SKIP
    >>> plan = spec.plan(Path(tempfile.mkdtemp()))                          # doctest: +SKIP
"""

from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from enrich.errors import ConfigError
from enrich.jobs import JobSpec
from enrich.plan import RunPlan
from enrich.prompts import PromptFile
from enrich.schema_registry import SchemaRegistry
from enrich.tasks import get_task

_SCHEMA_SUFFIXES = (".py", ".json")


class WorkerSpec(BaseModel):
    """Everything a worker rebuilds the plan from (picklable, no paths it must share).

    Attributes:
        job_json: the job, as JSON (its ``path``/``root`` are not part of it).
        prompt: the prompt that runs, as the prompt file's fields.
        schema_files: the project's ``schemas/`` files by name (built-in ones ship with enrich).
        schema_fingerprint: the driver's output schema fingerprint (checked by the worker).
        params: the merged sampling parameters.
        key_prefix: the request key prefix (hex).
        fingerprint: the job fingerprint.
        task: the task kind.
        run_id: the run the results belong to.
        results_dir: where workers write result files (a folder every worker can write).
        cache_dir: embedded models (llama.cpp workers).
        n_threads: llama.cpp threads per worker.
    """

    model_config = ConfigDict(extra="forbid")

    job_json: str
    prompt: dict[str, Any]
    schema_files: dict[str, str]
    schema_fingerprint: str
    params: dict[str, Any]
    key_prefix: str
    fingerprint: str
    task: str | None
    run_id: str
    results_dir: str
    cache_dir: str
    n_threads: int = 2

    @classmethod
    def from_plan(cls, plan: RunPlan, run_id: str, results_dir: Path, cache_dir: Path,
                  n_threads: int) -> "WorkerSpec":
        """The spec of ``plan`` for the run ``run_id``."""
        folder = plan.job.root / "schemas"
        files = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*"))
                 if p.suffix in _SCHEMA_SUFFIXES and p.is_file()} if folder.is_dir() else {}
        return cls(job_json=plan.job.model_dump_json(by_alias=True),
                   prompt=plan.prompt.model_dump(by_alias=True), schema_files=files,
                   schema_fingerprint=plan.schema.fingerprint, params=plan.params,
                   key_prefix=plan.key_prefix.hex(), fingerprint=plan.fingerprint,
                   task=plan.job.task or plan.prompt.task, run_id=run_id,
                   results_dir=str(results_dir), cache_dir=str(cache_dir), n_threads=n_threads)

    def plan(self, scratch: Path) -> RunPlan:
        """The plan, rebuilt in ``scratch`` (a private folder: the schema files go there).

        Raises:
            ConfigError: the worker's enrich builds another prompt version or schema than
                the driver's (install the same enrich version on every node).
        """
        schemas = scratch / "schemas"
        schemas.mkdir(parents=True, exist_ok=True)
        for name, text in self.schema_files.items():
            (schemas / name).write_text(text, encoding="utf-8")
        job = JobSpec.model_validate_json(self.job_json).model_copy(update={"root": scratch})
        prompt = PromptFile.model_validate(self.prompt)
        schema = SchemaRegistry(schemas).get(job.schema_name or prompt.schema_name)
        if schema.fingerprint != self.schema_fingerprint:
            raise ConfigError(f"schema `{schema.name}` differs on this worker from the driver's",
                              "install the same enrich version on every node of the cluster")
        task = get_task(self.task, job.task_options)
        plan = RunPlan(job, prompt, schema, self.params, cast(Any, None), self.fingerprint,
                       bytes.fromhex(self.key_prefix), task)
        task.prepare(plan, cast(Any, None))  # (no store on a worker)
        return plan
