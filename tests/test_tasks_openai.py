"""Every task through the OpenAI-compatible backend, against the in-repository fake server."""

from pathlib import Path

import orjson
import pytest
from test_tasks_support import TASK_JOBS, make_project, run_job, view_rows

from enrich.backends import create_backend
from enrich.jobs import load_job
from enrich.testing.fake_server import FakeServer, FakeServerConfig

VIEW_OF = {"item_metadata": "item_metadata", "synthetic_queries": "synthetic_queries",
           "user_summaries": "user_summaries", "bad_match": "match_labels",
           "query_understanding": "query_parses"}


def _openai_backend(project: Path, job_name: str, url: str, **overrides: object):
    job = load_job(project / "jobs" / job_name, {"backend.kind": "openai",
                                                 "backend.base_url": url,
                                                 "backend.model": "test-model", **overrides})
    return create_backend(job.backend, concurrency=4, cache_dir=project / "cache",
                          logprobs=bool(job.params.logprobs))


@pytest.mark.parametrize("task", sorted(TASK_JOBS))
def test_task_runs_on_the_openai_backend(tmp_path: Path, task: str) -> None:
    project = make_project(tmp_path)
    overrides = {"backend.kind": "openai", "backend.model": "test-model", "limit": 5}
    with FakeServer(FakeServerConfig(record_bodies=20)) as server:
        backend = _openai_backend(project, TASK_JOBS[task], server.url)
        summary = run_job(project, TASK_JOBS[task], backend,
                          **{"backend.base_url": server.url, **overrides})
        bodies = server.bodies()
    assert (summary.ok, summary.failed, summary.status) == (5, 0, "finished")
    assert bodies and "structured_outputs" in bodies[-1]
    rows = view_rows(project, f"SELECT * FROM {VIEW_OF[task]}")
    assert rows and {r["model"] for r in rows} == {"test-model"}


def test_bad_match_on_openai_backend_reads_p_bad_from_logprobs(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    job = TASK_JOBS["bad_match"]
    with FakeServer(FakeServerConfig(record_bodies=5)) as server:
        backend = _openai_backend(project, job, server.url)
        run_job(project, job, backend, limit=6, **{"backend.kind": "openai",
                                                   "backend.base_url": server.url,
                                                   "backend.model": "test-model"})
        body = server.bodies()[-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 10
    rows = view_rows(project, "SELECT * FROM match_labels")
    assert {r["p_bad_source"] for r in rows} == {"logprobs"}
    assert all(0.0 <= r["p_bad"] <= 1.0 for r in rows)
    assert len({round(r["p_bad"], 6) for r in rows}) > 1  # varies per pair
    for row in rows:  # the chosen label is the most likely one
        probs = {"good": row["p_good"], "partial": row["p_partial"], "bad": row["p_bad"]}
        assert max(probs, key=probs.__getitem__) == row["label"]


def test_bad_match_without_logprobs_is_flagged_verbalized(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    job = TASK_JOBS["bad_match"]
    overrides = {"backend.kind": "openai", "backend.model": "test-model"}
    with FakeServer(FakeServerConfig()) as server:
        backend = _openai_backend(project, job, server.url)
        path = project / "jobs" / job
        path.write_text(path.read_text().replace("logprobs: true", "logprobs: false"))
        run_job(project, job, backend, limit=3, **{"backend.base_url": server.url,
                                                   **overrides})
    rows = view_rows(project, "SELECT p_bad, p_bad_source, p_bad_verbalized, request_key "
                              "FROM match_labels")
    assert {r["p_bad_source"] for r in rows} == {"verbalized"}
    assert all(r["p_bad"] == r["p_bad_verbalized"] for r in rows)
    stored = view_rows(project, "SELECT output FROM requests")
    assert all(orjson.loads(r["output"])["label_probs"] is None for r in stored)
