"""`enrich plan`: rows, cache hits and requests counted exactly as a run would, token sizes
from past requests, a tokenizer or the documented estimate, and schema output bounds."""

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tasks_support import TASK_JOBS, fake_backend, make_project, run_job

from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.run_estimate import (
    CHARS_PER_TOKEN,
    estimate_job,
    price,
    schema_output_chars,
    tokens_by_chars,
)
from enrich.schema_registry import SchemaRegistry
from enrich.store import Store
from enrich.testing.schema_instances import valid_instance

REPO = Path(__file__).resolve().parents[1]


def _estimate(project: Path, job_name: str, **overrides: object):
    job = load_job(project / "jobs" / job_name, {"backend.kind": "openai",
                                                 "backend.base_url": "http://127.0.0.1:9/v1",
                                                 **overrides})
    with Store(project / "enrich.duckdb") as store:
        plan = RunPlan.build(job, store)
        return estimate_job(plan, store, cache_dir=project / "cache", rows_per_s=2.0,
                            price_in=1.0, price_out=4.0)


def test_plan_counts_what_a_run_would_send_and_measures_past_requests(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    job = TASK_JOBS["item_metadata"]
    before = _estimate(project, job, limit=8)
    assert (before.rows, before.rows_cached, before.requests_to_send) == (8, 0, 8)
    assert before.prompt_tokens_source.startswith("estimate")
    run_job(project, job, fake_backend(), limit=3)  # the fake reports 20 in / 10 out
    after = _estimate(project, job, limit=8)
    assert (after.rows, after.rows_cached, after.requests_to_send) == (8, 3, 5)
    assert (after.prompt_tokens_per_request, after.output_tokens_per_request) == (20.0, 10.0)
    assert (after.prompt_tokens_total, after.output_tokens_total) == (100, 50)
    assert after.seconds == pytest.approx(2.5)
    assert after.cost == pytest.approx(100 / 1e6 * 1.0 + 50 / 1e6 * 4.0)


def test_plan_estimate_is_four_characters_per_token() -> None:
    messages = [{"role": "system", "content": "x" * 40}, {"role": "user", "content": "y" * 80}]
    assert tokens_by_chars(messages) == 120 / CHARS_PER_TOKEN + 8
    assert price(1_000_000, 0, None, None) is None
    assert price(2_000_000, 500_000, 0.5, None) == pytest.approx(1.0)


@pytest.mark.parametrize("name", SchemaRegistry(REPO / "schemas").names())
def test_schema_bound_holds_for_every_valid_output(name: str) -> None:
    schema = SchemaRegistry(REPO / "schemas").get(name).json_schema
    bound = schema_output_chars(schema)

    @settings(max_examples=60, deadline=None)
    @given(seed=st.integers(min_value=0, max_value=10**6))
    def check(seed: int) -> None:
        instance = valid_instance(schema, seed=seed)
        assert len(orjson.dumps(instance)) <= bound

    check()


def test_plan_cli_prints_json_and_never_creates_the_store(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    db = tmp_path / "never.duckdb"
    out = subprocess.run(
        [sys.executable, "-m", "enrich.cli", "plan", str(project / "jobs" /
                                                         TASK_JOBS["synthetic_queries"]),
         "--db", str(db), "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
         "--limit", "4", "--json", "--rows-per-s", "4"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["rows"] == 4 and data["requests_to_send"] == 4 and data["seconds"] == 1.0
    assert not db.exists()
