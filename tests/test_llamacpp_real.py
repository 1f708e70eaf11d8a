"""Real end-to-end runs on the embedded SmolLM2-135M GGUF from its PyPI package (slow)."""

import asyncio
from pathlib import Path

import pytest
from conftest import BASIC_JOB, write_job

from enrich.backends import create_backend
from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.runner import Runner
from enrich.store import Store
from enrich.store.queries import consistency_problems

pytestmark = pytest.mark.slow


def test_embedded_model_runs_a_job_and_reruns_from_cache(project: Path) -> None:
    pytest.importorskip("llama_cpp", reason="run `make setup` to build llama-cpp-python")
    path = write_job(project, BASIC_JOB + "limit: 2\nparams: {max_tokens: 120}\n")
    for expected_calls in (None, 0):
        job = load_job(path)
        with Store(project / "enrich.duckdb") as store:
            plan = RunPlan.build(job, store)
            backend = create_backend(job.backend, concurrency=1, cache_dir=project / ".cache")
            summary = asyncio.run(Runner(plan, store, backend).run())
            assert consistency_problems(store) == {}
            outputs = store.sql("SELECT q.output->>'clean_title', q.completion_tokens, q.model "
                                "FROM outputs o JOIN requests q USING (key) WHERE o.run_id = ?",
                                [summary.run_id]).fetchall()
        assert summary.status == "finished"
        assert summary.ok + summary.cached + summary.failed == 2
        if expected_calls == 0:
            assert summary.counters.requests_sent == 0 and summary.cached == len(outputs)
    assert outputs, "the model produced no valid output at all"
    for title, tokens, model in outputs:
        assert title and tokens > 0 and model == "smollm2-135m"


def test_missing_model_package_says_what_to_install(tmp_path: Path) -> None:
    from enrich.backends.model_files import locate_model
    from enrich.errors import BackendError

    with pytest.raises(BackendError, match="not a known name"):
        locate_model("no-such-model", tmp_path)
    path = locate_model("smollm2-135m", tmp_path)
    assert path.name.endswith(".gguf") and path.stat().st_size == 98_362_432
    assert any((tmp_path / "verified").iterdir())  # checksum remembered
