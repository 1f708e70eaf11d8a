"""Builders shared by the evaluation and dashboard tests (no tests here).

A judge prompt in two versions (A: uninformative, B: agrees with the humans), a golden set of
20 query–title pairs with mean ratings, and a fake backend whose answers depend on the version.
"""

import subprocess
from pathlib import Path

import orjson
from fakes import FakeBackend

from enrich.backends.base import LLMRequest, LLMResult

JUDGE_SCHEMA = '''"""Test judge output."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JudgeLabel"]


class JudgeLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Literal["bad", "partial", "good"]
    p_bad: float = Field(ge=0, le=1)
'''

JUDGE_V1 = """name: judge
description: Is the product a bad match for the query?
schema: JudgeLabel
params: {temperature: 0.0, max_tokens: 30}
user: |
  Query: {{ query }}
  Product: {{ product_title }}
  Is this a bad match? Answer as JSON.
"""
JUDGE_V2 = JUDGE_V1.replace("Is this a bad match?", "STRICT: compare every query word. Is this "
                                                     "a bad match?")

# (pair_id, query, product_title, relevance): 7 bad (< 2.0), 13 not bad, 5 queries
GOLDEN = [(i, f"query {i // 4}", f"product {i}", r) for i, r in enumerate(
    [1.0, 1.33, 2.33, 3.0, 1.67, 2.0, 2.67, 3.0, 1.0, 2.33, 2.67, 3.0, 1.33, 1.67, 2.0, 3.0,
     1.0, 2.33, 2.67, 3.0])]

SUITE = """name: judge_suite
kind: labels
golden: {path: data/golden.csv, id_column: pair_id, license: test data}
job: {prompt: judge, backend: {kind: llamacpp, model: smollm2-135m}}
human: {column: relevance, bad_below: 2.0, good_from: 2.5, group_column: query}
bootstrap: {resamples: 200, seed: 1}
thresholds: {coverage: {min: 0.9}}
"""


def write_judge_project(project: Path, version: str = JUDGE_V1, git: bool = False) -> Path:
    """Add the judge prompt, schema, golden set and suite to a test project; returns the suite."""
    (project / "schemas" / "judge.py").write_text(JUDGE_SCHEMA, encoding="utf-8")
    (project / "prompts" / "judge.yaml").write_text(version, encoding="utf-8")
    lines = ["pair_id,query,product_title,relevance"]
    lines += [f"{i},{q},{t},{r}" for i, q, t, r in GOLDEN]
    (project / "data" / "golden.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (project / "eval" / "suites").mkdir(parents=True, exist_ok=True)
    suite = project / "eval" / "suites" / "judge_suite.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    if git:
        git_commit(project, "judge v1")
    return suite


def git_commit(project: Path, message: str) -> None:
    """Commit everything in ``project`` (initialising the repository on first use)."""
    def run(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=project, check=True, capture_output=True)

    if not (project / ".git").exists():
        run("init", "-q")
    run("add", "-A")
    run("commit", "-q", "-m", message)


def _truth(request: LLMRequest) -> float:
    text = request.messages[-1]["content"]
    title = text.split("Product: ")[1].split("\n")[0]
    return dict((t, r) for _, _, t, r in GOLDEN)[title]


def judge_answer(request: LLMRequest) -> LLMResult:
    """Version B (STRICT) answers like the humans; version A answers noise."""
    rating = _truth(request)
    if "STRICT" in request.messages[-1]["content"]:
        label = "bad" if rating < 2.0 else ("partial" if rating < 2.5 else "good")
        p_bad = {"bad": 0.85, "partial": 0.35, "good": 0.1}[label]
    else:
        p_bad = [0.3, 0.6, 0.4, 0.7, 0.5][int(request.row_id) % 5]  # unrelated to rating
        label = "bad" if p_bad > 0.55 else "good"
    content = orjson.dumps({"label": label, "p_bad": p_bad}).decode()
    return LLMResult(request, content=content, raw="{}", prompt_tokens=12, completion_tokens=6)


def judge_backend() -> FakeBackend:
    return FakeBackend(judge_answer, model="fake-judge")
