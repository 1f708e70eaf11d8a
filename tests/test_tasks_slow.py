"""One real run per task on the embedded SmolLM2-135M (slow; a few rows, small max_tokens).

These check the machinery with a real model (grammar-constrained JSON, logprobs from llama.cpp,
post-processing, finalize), not the quality of a 135M model's answers.
"""

from pathlib import Path
from typing import Any

import orjson
import pytest
from test_tasks_support import TASK_JOBS, make_project, run_job, view_rows

from enrich.backends import create_backend
from enrich.jobs import load_job

pytestmark = pytest.mark.slow

SETTINGS: dict[str, dict[str, Any]] = {  # rows and max_tokens per task (~40 tok/s here)
    "item_metadata": {"limit": 1, "params.max_tokens": 200},
    "synthetic_queries": {"limit": 2, "params.max_tokens": 90},
    "user_summaries": {"limit": 1, "params.max_tokens": 160,
                       "task_options.history_n": 5},
    "bad_match": {"limit": 2, "params.max_tokens": 60, "task_options.query_likelihood": {}},
    "query_understanding": {"limit": 2, "params.max_tokens": 140},
}


def _run_embedded(tmp_path: Path, task: str) -> tuple[Path, Any]:
    pytest.importorskip("llama_cpp", reason="run `make setup` to build llama-cpp-python")
    project = make_project(tmp_path)
    overrides = {"backend.model": "smollm2-135m", "backend.n_ctx": 1024, **SETTINGS[task]}
    job = load_job(project / "jobs" / TASK_JOBS[task], overrides)
    backend = create_backend(job.backend, concurrency=1, cache_dir=Path.home() / ".cache" /
                             "enrich", logprobs=bool(job.params.logprobs))
    summary = run_job(project, TASK_JOBS[task], backend, **overrides)
    assert summary.status == "finished"
    assert summary.ok + summary.failed == SETTINGS[task]["limit"]
    failures = view_rows(project, "SELECT error_kind, message FROM failures")
    assert all(f["error_kind"] and f["message"] for f in failures)  # a failure says why
    return project, summary


def _ok_rows(project: Path, view: str) -> list[dict[str, Any]]:
    rows = view_rows(project, f"SELECT * FROM {view}")
    assert rows, f"SmolLM2 produced no valid {view} row at all"
    return rows


def test_item_metadata_on_smollm2(tmp_path: Path) -> None:
    project, _ = _run_embedded(tmp_path, "item_metadata")
    for row in _ok_rows(project, "item_metadata"):
        assert row["clean_title"] and row["model"] == "smollm2-135m"


def test_synthetic_queries_on_smollm2_with_llm_scores_and_filter(tmp_path: Path) -> None:
    project, _ = _run_embedded(tmp_path, "synthetic_queries")
    rows = _ok_rows(project, "synthetic_queries")
    assert all(r["kept"] is not None and r["reason"] for r in rows)  # finalize checked them
    assert any(r["llm_score"] is not None and r["llm_score"] <= 0 for r in rows)


def test_user_summaries_on_smollm2(tmp_path: Path) -> None:
    project, _ = _run_embedded(tmp_path, "user_summaries")
    for row in _ok_rows(project, "user_summaries"):
        assert row["summary"] and row["history_n"] == 5


def test_bad_match_on_smollm2_logprobs_and_query_likelihood(tmp_path: Path) -> None:
    project, _ = _run_embedded(tmp_path, "bad_match")
    for row in _ok_rows(project, "match_labels"):
        assert row["p_bad_source"] == "logprobs" and 0.0 <= row["p_bad"] <= 1.0
        assert row["p_good"] + row["p_partial"] + row["p_bad"] == pytest.approx(1.0)
        assert row["ql_pmi"] is not None and row["ql_scorer"].endswith("SmolLM2-135M-Instruct.Q4_1")


def test_query_understanding_on_smollm2_spans_index_the_query(tmp_path: Path) -> None:
    project, _ = _run_embedded(tmp_path, "query_understanding")
    for row in _ok_rows(project, "query_parses"):
        for span in orjson.loads(row["spans"]):
            assert row["query"][span["start"]:span["end"]] == span["text"]
