"""The servers the conformance suite runs against, and one cached ``enrich run`` per (server, task).

Every server kind gets the same checks: the real ``python -m llama_cpp.server`` (dialect
``llamacpp-server``) and the in-repository fault-injecting fake server in each dialect
(``vllm``, ``openai``, ``llamacpp-server``). The fake records request bodies, so for it the suite
checks what was sent; for the real server it checks what came back.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cli_run import (
    TASK_JOBS,
    CliResult,
    StoreFacts,
    cli_env,
    read_store,
    run_args,
    run_enrich,
)
from llama_server import API_KEY_ENV, MODEL_ALIAS, TEST_API_KEY, LlamaServer

from enrich.testing.fake_server import FakeServer, FakeServerConfig


@dataclass(frozen=True)
class ServerKind:
    """One column of the feature table."""

    id: str
    dialect: str
    real: bool
    label: str


REAL = ServerKind("llama_cpp.server", "llamacpp-server", True,
                  "llama-cpp-python `llama_cpp.server` (real), `--server llamacpp-server`")
FAKES = tuple(ServerKind(f"fake-{d}", d, False, f"fake server, `--server {d}`")
              for d in ("vllm", "openai", "llamacpp-server"))
KINDS = {kind.id: kind for kind in (REAL, *FAKES)}


@dataclass
class TaskRun:
    """One shipped job run through the CLI against one server kind."""

    kind: ServerKind
    task: str
    limit: int
    db: Path
    cli: CliResult
    store: StoreFacts
    bodies: list[dict[str, Any]] | None  # what the fake server received (None: real server)


def fake_server(port: int = 0, **config: Any) -> FakeServer:
    """The fake server serving the same model name and requiring the same key as the real one.

    Args:
        port: TCP port (0: a free one).
        config: ``FakeServerConfig`` fields (latency, faults, ...).
    """
    settings: dict[str, Any] = {"models": [MODEL_ALIAS], "api_key": TEST_API_KEY,
                                "record_bodies": 500, **config}
    return FakeServer(FakeServerConfig(**settings), port=port)


class Conformance:
    """The suite's project folder and its runs (one session object; runs are cached).

    Args:
        project: a throw-away project (``cli_run.make_project``).
        work: where stores and logs go.
    """

    def __init__(self, project: Path, work: Path):
        self.project = project
        self.work = work
        self.env = cli_env(TEST_API_KEY, API_KEY_ENV)
        self._runs: dict[tuple[str, str], TaskRun] = {}

    def job(self, task: str) -> Path:
        """The project's copy of the shipped job of ``task``."""
        return self.project / "jobs" / TASK_JOBS[task][0]

    def enrich(self, args: list[str], env: dict[str, str] | None = None,
               **kwargs: Any) -> CliResult:
        """Run ``enrich ARGS`` in the project folder with the API key variable set (and
        ``env`` on top)."""
        return run_enrich(args, self.project, {**self.env, **(env or {})}, **kwargs)

    def job_variant(self, task: str, name: str, backend: dict[str, Any] | None = None,
                    params: dict[str, Any] | None = None) -> Path:
        """A copy of ``task``'s job with ``backend`` settings (e.g. ``max_retries``) and
        sampling ``params`` added."""
        spec = yaml.safe_load(self.job(task).read_text(encoding="utf-8"))
        spec["backend"].update(backend or {})
        if params:
            spec["params"] = {**(spec.get("params") or {}), **params}
        spec["name"] = f"{spec['name']}-{name}"
        path = self.project / "jobs" / f"conformance_{task}_{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        return path

    def run_args(self, task: str, base_url: str, dialect: str, db: Path, *,
                 limit: int | None = None, model: str = MODEL_ALIAS,
                 key_env: str | None = API_KEY_ENV, job: Path | None = None) -> list[str]:
        """``enrich run`` arguments for ``task``'s job (or ``job``) against ``base_url``."""
        rows = TASK_JOBS[task][1] if limit is None else limit
        return run_args(job or self.job(task), db, base_url, dialect, model, rows, key_env)

    def run(self, task: str, base_url: str, dialect: str, db: Path, **kwargs: Any) -> CliResult:
        """``enrich run`` of ``task``'s job against ``base_url`` (options: ``run_args``)."""
        return self.enrich(self.run_args(task, base_url, dialect, db, **kwargs))

    def task_run(self, kind: ServerKind, task: str, real: LlamaServer | None) -> TaskRun:
        """The (cached) run of ``task``'s shipped job against ``kind``."""
        cached = self._runs.get((kind.id, task))
        if cached is not None:
            return cached
        db = self.work / f"{kind.id}-{task}.duckdb"
        limit = TASK_JOBS[task][1]
        if kind.real:
            assert real is not None, "the real server kinds need the llama_server fixture"
            cli, bodies = self.run(task, real.base_url, kind.dialect, db), None
        else:
            with fake_server() as server:
                cli = self.run(task, server.url, kind.dialect, db)
                bodies = server.bodies()
        run = TaskRun(kind, task, limit, db, cli, read_store(db), bodies)
        self._runs[(kind.id, task)] = run
        return run
