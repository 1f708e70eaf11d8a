"""Helpers for the vLLM offline-engine tests (no tests here): a project, jobs, runs, the stand-in.

Jobs run the way ``enrich run`` runs them (``enrich/commands/run.py``): ``load_job`` with the
command-line overrides, ``RunPlan.build``, a backend *factory* from ``create_backend`` (so the
runner sees the job's concurrency, not the backend's), ``Runner.run``. The stand-in ``vllm``
package (``vllm_standin/``, NOT vLLM) is found first on ``sys.path`` / ``PYTHONPATH``.
"""

import asyncio
import csv
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from enrich.backends import create_backend
from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.progress import RunSummary
from enrich.runner import Runner
from enrich.store import Store
from enrich.store.queries import consistency_problems

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "vllm_standin"
MODEL = "Qwen/Qwen2.5-7B-Instruct"

WORDS = ("red", "cordless", "drill", "oak", "table", "lamp", "steel", "garden", "hose", "brass")


def forget_vllm() -> None:
    """Drop every imported ``vllm`` module (the next import finds whatever is on the path)."""
    for name in [n for n in sys.modules if n == "vllm" or n.startswith("vllm.")]:
        del sys.modules[name]


def make_project(dest: Path, rows: int = 0, long_row: str | None = None) -> Path:
    """prompts/, schemas/, jobs/ and data/samples/ copied from the repository (the
    match-labels job without its query-likelihood pass), plus ``data/items.csv`` with ``rows``
    made-up items (``long_row``: this id gets a huge title)."""
    for folder in ("prompts", "schemas", "jobs"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data" / "samples", dest / "data" / "samples",
                    ignore=shutil.ignore_patterns("*.py", "*.md"))
    labels = dest / "jobs" / "homedepot_match_labels.yaml"  # no query-likelihood pass
    labels.write_text("".join(line for line in labels.read_text().splitlines(keepends=True)
                              if "query_likelihood" not in line))
    with (dest / "data" / "items.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["item_id", "title", "year"])
        for i in range(rows):
            title = " ".join(WORDS[(i * k + k) % len(WORDS)] for k in range(1, 4)) + f" {i}"
            if str(i) == long_row:
                title = " ".join(WORDS[k % len(WORDS)] for k in range(3000))
            writer.writerow([i, title, 1990 + i % 30])
    return dest


def items_job(project: Path, *, concurrency: int, name: str = "items",
              params: str = "") -> Path:
    """An item-metadata job over ``data/items.csv`` on the ``vllm`` backend."""
    path = project / "jobs" / f"{name}.yaml"
    path.write_text(f"""name: {name}
task: item_metadata
source: {{path: data/items.csv, id_column: item_id}}
prompt: item_metadata
backend: {{kind: vllm, model: {MODEL}}}
concurrency: {concurrency}
{params}""", encoding="utf-8")
    return path


def run_job(job_path: Path, db: Path, **overrides: Any) -> RunSummary:
    """Run a job like ``enrich run JOB --db DB`` (options as overrides); checks the store."""
    job = load_job(job_path, overrides or None)
    with Store(db) as store:
        plan = RunPlan.build(job, store)

        def backend() -> Any:
            return create_backend(job.backend, concurrency=job.concurrency,
                                  cache_dir=db.parent / "cache",
                                  logprobs=bool(plan.params.get("logprobs")))

        summary = asyncio.run(Runner(plan, store, backend).run())
        assert consistency_problems(store) == {}
    return summary


def rows_of(db: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query over the store, as dicts."""
    with Store(db, read_only=True) as store:
        cursor = store.sql(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment with the stand-in first on PYTHONPATH, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(STANDIN), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def enrich_command() -> list[str]:
    """The ``enrich`` console script of this interpreter (``python -m enrich.cli`` else)."""
    script = Path(sys.executable).parent / "enrich"
    return [str(script)] if script.exists() else [sys.executable, "-m", "enrich.cli"]


def standin_on_path(monkeypatch: Any) -> Iterator[Any]:
    """Body of the tests' ``standin`` fixture: the stand-in ``vllm`` first on ``sys.path``;
    yields its ``control`` module, and forgets every ``vllm`` module afterwards."""
    forget_vllm()
    monkeypatch.syspath_prepend(str(STANDIN))
    from vllm._standin import control

    control.reset()
    yield control
    forget_vllm()
