"""Run a suite's prompt (any version) over its golden rows through the normal engine.

A past version (``PROMPT@VERSION``, from the store or the prompt file's git history) is run by
materialising it in a temporary project: the project's ``prompts/`` and ``schemas/`` are copied
and the old version's YAML is written under the same name. The request keys depend only on
what is sent, so rows whose rendered prompt did not change are cache hits and cost nothing.

Example:
    >>> ref = PromptRef.parse("bad_match@3f2a")                   # doctest: +SKIP
    >>> run_id = run_suite_job(suite, ref, Path("enrich.duckdb"))  # doctest: +SKIP
"""

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrich.errors import ConfigError
from enrich.evaluate.suites import Suite
from enrich.jobs import JobSpec, SourceSpec
from enrich.prompts import PromptFile, PromptLibrary

BackendFactory = Callable[[JobSpec, Any], Any]


@dataclass(frozen=True)
class PromptRef:
    """``NAME`` (the current file) or ``NAME@VERSION`` (a version hash or unique prefix; also
    ``current`` and ``previous``)."""

    name: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> "PromptRef":
        """Example: ``PromptRef.parse("bad_match@1a2b")`` → name bad_match, version 1a2b."""
        name, _, version = text.partition("@")
        if not name:
            raise ConfigError(f"`{text}` names no prompt", "write PROMPT or PROMPT@VERSION")
        return cls(name, version or None)

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


def resolve_prompt(root: Path, ref: PromptRef, db: Path | None) -> PromptFile:
    """The prompt file a reference names (versions from the store and git history).

    Raises:
        ConfigError: unknown or ambiguous version; the hint lists the known versions.
    """
    from enrich.prompt_versions import PromptVersions

    return PromptVersions(root / "prompts", db).resolve(ref.name, ref.version)


def _prompt_path(root: Path, name: str) -> Path:
    library = PromptLibrary(root / "prompts")
    for path in library.paths():
        if path.stem == name:
            return path
    for path in library.paths():
        if library.load_file(path).name == name:
            return path
    return root / "prompts" / f"{name}.yaml"


@contextmanager
def prompt_project(root: Path, prompt: PromptFile) -> Iterator[Path]:
    """A project root where ``prompt`` is the current version of its name.

    The real project when it already is; otherwise a temporary copy of ``prompts/`` and
    ``schemas/`` with the old version written in place (removed afterwards).
    """
    current_path = _prompt_path(root, prompt.name)
    if current_path.is_file() and PromptLibrary(root / "prompts").load_file(
            current_path).version == prompt.version:
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="enrich-prompt-") as tmp:
        temp_root = Path(tmp)
        shutil.copytree(root / "prompts", temp_root / "prompts")
        if (root / "schemas").is_dir():
            shutil.copytree(root / "schemas", temp_root / "schemas",
                            ignore=shutil.ignore_patterns("__pycache__"))
        target = temp_root / "prompts" / current_path.relative_to(root / "prompts")
        target.write_text(prompt.to_yaml(), encoding="utf-8")
        written = PromptLibrary(temp_root / "prompts").load_file(target)
        if written.version != prompt.version:
            raise ConfigError(f"prompt `{prompt.name}` version {prompt.version} could not be "
                              f"reproduced (got {written.version})", "report this as a bug")
        yield temp_root


def suite_job(suite: Suite, prompt: PromptFile, root: Path,
              overrides: dict[str, Any] | None = None) -> JobSpec:
    """The job that runs ``prompt`` over the suite's golden rows (source path absolute)."""
    assert suite.job is not None
    spec = suite.job
    source = SourceSpec(path=str(suite.resolve(suite.golden.path).resolve()),
                        id_column=suite.golden.id_column, columns=spec.columns)
    data: dict[str, Any] = {
        "name": f"eval-{suite.name}", "description": f"evaluation suite {suite.name}",
        "task": spec.task, "source": source, "prompt": prompt.name,
        "schema": spec.schema_name, "backend": spec.backend.model_dump(),
        "params": spec.params.model_dump(exclude_none=True), "task_options": spec.task_options,
        "concurrency": spec.concurrency, "repair_attempts": spec.repair_attempts,
        "limit": spec.limit}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        target = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    job = JobSpec.model_validate(data)
    return job.model_copy(update={"root": root, "path": suite.path})


def _default_backend(job: JobSpec, plan: Any) -> Any:
    from enrich.backends import create_backend
    from enrich.settings import EnrichSettings

    settings = EnrichSettings()
    return create_backend(job.backend, concurrency=job.concurrency, cache_dir=settings.cache_dir,
                          n_threads=settings.n_threads,
                          logprobs=bool(plan.params.get("logprobs")))


def run_suite_job(suite: Suite, ref: PromptRef, db: Path, *,
                  overrides: dict[str, Any] | None = None,
                  backend_factory: BackendFactory | None = None,
                  console: Any = None) -> tuple[str, PromptFile]:
    """Run one prompt version over the suite's golden rows; returns (run id, prompt).

    Args:
        suite: a labels or generation suite.
        ref: the prompt (``NAME`` or ``NAME@VERSION``).
        db: the store (created if missing).
        overrides: dotted job keys, e.g. ``{"backend.model": "qwen2.5-coder-0.5b"}``.
        backend_factory: builds the backend (tests pass a fake); default from the job.
        console: a rich Console for the progress bar, or None.
    """
    from enrich.plan import RunPlan
    from enrich.runner import Runner
    from enrich.store import Store

    prompt = resolve_prompt(suite.root, ref, db)
    with prompt_project(suite.root, prompt) as root:
        job = suite_job(suite, prompt, root, overrides)
        with Store(db) as store:
            plan = RunPlan.build(job, store)
            backend = (backend_factory or _default_backend)(job, plan)
            summary = asyncio.run(Runner(plan, store, backend, console=console).run())
    if summary.status != "finished":
        raise ConfigError(f"the run {summary.run_id} of suite {suite.name} was interrupted "
                          f"({summary.pending} rows left)", "run the evaluation again to resume")
    return summary.run_id, prompt
