"""Helpers for the task tests (no tests here): a project with the shipped samples, fake answers.

The project folder holds copies of the repository's prompts/, schemas/, jobs/ and
data/samples/, so the example jobs run unchanged against a throw-away store.
"""

import asyncio
import shutil
from pathlib import Path
from typing import Any

import orjson
from conftest import REPO
from fakes import FakeBackend

from enrich.backends.base import LLMRequest, LLMResult
from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.runner import Runner, RunSummary
from enrich.store import Store
from enrich.store.queries import consistency_problems
from enrich.testing.schema_instances import valid_instance

TASK_JOBS = {
    "item_metadata": "homedepot_item_metadata.yaml",
    "synthetic_queries": "homedepot_synthetic_queries.yaml",
    "user_summaries": "movielens_user_summaries.yaml",
    "bad_match": "homedepot_match_labels.yaml",
    "query_understanding": "homedepot_query_parses.yaml",
}


def make_project(tmp_path: Path) -> Path:
    """A project folder with prompts/, schemas/, jobs/ and data/samples/ from the repository
    (the match-labels job without its query-likelihood scorer, which loads a model)."""
    for folder in ("prompts", "schemas", "jobs"):
        shutil.copytree(REPO / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data" / "samples", tmp_path / "data" / "samples",
                    ignore=shutil.ignore_patterns("*.py", "*.md"))
    labels = tmp_path / "jobs" / TASK_JOBS["bad_match"]  # fast tests load no model: tests
    labels.write_text("".join(line for line in labels.read_text().splitlines(keepends=True)
                              if "query_likelihood" not in line))  # that want it set it
    return tmp_path


def schema_answer(request: LLMRequest) -> LLMResult:
    """A schema-valid answer for any request (deterministic per row)."""
    assert request.schema is not None
    content = orjson.dumps(valid_instance(request.schema, seed=request.row_id)).decode()
    return LLMResult(request, content=content, raw="{}", prompt_tokens=20,
                     completion_tokens=10)


def run_job(project: Path, job_name: str, backend: Any, **overrides: Any) -> RunSummary:
    """Run ``jobs/job_name`` of the project against ``backend``; checks store consistency."""
    job = load_job(project / "jobs" / job_name, overrides)
    with Store(project / "enrich.duckdb") as store:
        plan = RunPlan.build(job, store)
        summary = asyncio.run(Runner(plan, store, backend).run())
        assert consistency_problems(store) == {}
    return summary


def fake_backend(answer: Any = schema_answer) -> FakeBackend:
    return FakeBackend(answer, concurrency=2)


def view_rows(project: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query over the project's store, as dicts."""
    with Store(project / "enrich.duckdb", read_only=True) as store:
        cursor = store.sql(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def logprob_entries(content: str, label: str | None = None,
                    alternatives: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """OpenAI-format logprobs for ``content``: one token per character, except the label value
    (one token) whose ``top_logprobs`` are ``alternatives`` (token → logprob)."""
    entries: list[dict[str, Any]] = []
    position = 0
    start = content.find(f'"{label}"', content.find('"label"') + 7) + 1 if label else -1
    while position < len(content):
        if position == start:
            token = label or ""
            top = [{"token": t, "logprob": lp} for t, lp in (alternatives or {}).items()]
            entries.append({"token": token, "logprob": (alternatives or {}).get(token, -0.1),
                            "top_logprobs": top})
            position += len(token)
            continue
        entries.append({"token": content[position], "logprob": -0.05, "top_logprobs": []})
        position += 1
    return entries
