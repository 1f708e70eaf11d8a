"""Suites end to end on a fake backend: run, score, A/B compare, cache, prompt versions."""

from pathlib import Path

import pytest
from test_eval_helpers import JUDGE_V2, git_commit, judge_backend, write_judge_project

from enrich.errors import ConfigError
from enrich.evaluate.compare import compare_versions
from enrich.evaluate.evaluation import evaluate_suite
from enrich.evaluate.execute import PromptRef, resolve_prompt
from enrich.evaluate.suites import load_suite


def _factory(backends: list):
    def make(job, plan):
        backend = judge_backend()
        backends.append(backend)
        return backend
    return make


def test_run_scores_labels_against_golden_with_intervals(project: Path) -> None:
    suite = load_suite(write_judge_project(project, JUDGE_V2))
    scored = evaluate_suite(suite, project / "e.duckdb", backend_factory=_factory([]))
    result = scored.result
    assert result.metrics["roc_auc"].value == pytest.approx(1.0)
    assert result.metrics["kappa"].value == pytest.approx(1.0)
    assert result.metrics["coverage"].value == 1.0 and result.passed
    auc = result.metrics["roc_auc"]
    assert auc.n == 5  # groups (queries) resampled, not pairs
    assert result.provenance["model"] == "smollm2-135m"  # the job's model (the run records it)
    assert result.system.startswith("judge@")
    assert set(result.tables) >= {"roc", "reliability", "confusion", "distribution"}


def test_compare_finds_the_better_version_and_changed_rows(project: Path) -> None:
    suite_path = write_judge_project(project, git=True)
    old = load_suite(suite_path)
    v1 = resolve_prompt(project, PromptRef("judge"), None).version
    (project / "prompts" / "judge.yaml").write_text(JUDGE_V2, encoding="utf-8")
    git_commit(project, "judge v2")
    backends: list = []
    cmp = compare_versions(old, PromptRef("judge", v1[:6]), PromptRef("judge"),
                           project / "e.duckdb", backend_factory=_factory(backends))
    assert cmp.a.system == f"judge@{v1}" and cmp.b.system != cmp.a.system
    assert cmp.b.metrics["roc_auc"].value > cmp.a.metrics["roc_auc"].value
    diff = cmp.differences["roc_auc"]
    assert diff.low > 0, "B is better: the paired interval must exclude 0"
    assert cmp.verdict("roc_auc") == "better"
    assert cmp.verdict("coverage") == "no clear difference"
    assert "+  STRICT: compare every query word" in cmp.prompt_diff
    assert 0 < len(cmp.changed) <= 20 and {"A", "B", "relevance"} <= set(cmp.changed.columns)
    assert sum(sum(b.calls.values()) for b in backends) == 40
    # again: both versions come from the cache, no request is sent
    again: list = []
    compare_versions(old, PromptRef("judge", v1), PromptRef("judge", "current"),
                     project / "e.duckdb", backend_factory=_factory(again))
    assert sum(sum(b.calls.values()) for b in again) == 0


def test_old_version_from_the_store_runs_without_git(project: Path) -> None:
    suite = load_suite(write_judge_project(project))
    first = evaluate_suite(suite, project / "e.duckdb", backend_factory=_factory([]))
    (project / "prompts" / "judge.yaml").write_text(JUDGE_V2, encoding="utf-8")
    version = first.result.provenance["prompt_version"]
    backends: list = []
    again = evaluate_suite(suite, project / "e.duckdb", PromptRef("judge", version),
                           backend_factory=_factory(backends))
    assert again.result.provenance["prompt_version"] == version
    assert sum(sum(b.calls.values()) for b in backends) == 0
    assert (project / "prompts" / "judge.yaml").read_text() == JUDGE_V2  # project untouched


def test_unknown_version_lists_the_known_ones(project: Path) -> None:
    write_judge_project(project)
    with pytest.raises(ConfigError, match="unknown") as info:
        resolve_prompt(project, PromptRef("judge", "ffff00"), project / "none.duckdb")
    assert "known versions" in info.value.hint


def test_compare_refuses_two_different_prompts(project: Path) -> None:
    suite = load_suite(write_judge_project(project))
    with pytest.raises(ConfigError, match="different prompts"):
        compare_versions(suite, PromptRef("judge"), PromptRef("item_metadata"),
                         project / "e.duckdb")
