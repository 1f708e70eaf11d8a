"""The batch engine on an in-process fake backend: caching, failures, repair, resume."""

import asyncio
from pathlib import Path

import orjson
import pytest
from conftest import BASIC_JOB, write_job
from fakes import FakeBackend, valid_item_metadata

from enrich.backends.base import LLMRequest, LLMResult
from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.runner import Runner
from enrich.store import Store
from enrich.store.queries import consistency_problems


def run_job(project: Path, backend: FakeBackend, job_text: str = BASIC_JOB, **kwargs):
    job = load_job(write_job(project, job_text), kwargs.pop("overrides", None))
    with Store(project / "enrich.duckdb") as store:
        plan = RunPlan.build(job, store)
        summary = asyncio.run(Runner(plan, store, backend, **kwargs).run())
        assert consistency_problems(store) == {}
    return summary


def test_run_stores_every_row_with_provenance(project: Path) -> None:
    backend = FakeBackend()
    summary = run_job(project, backend)
    assert (summary.ok, summary.failed, summary.cached, summary.pending) == (5, 0, 0, 0)
    assert summary.status == "finished"
    assert backend.started and backend.closed
    with Store(project / "enrich.duckdb", read_only=True) as store:
        rows = store.sql("SELECT o.row_id, q.output, q.prompt_name, q.model, q.prompt_tokens, "
                         "o.input FROM outputs o JOIN requests q USING (key) "
                         "ORDER BY o.row_id").fetchall()
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]
    assert orjson.loads(rows[2][1])["clean_title"] == "Item 3"
    assert rows[0][2:5] == ("item_metadata", "fake-model", 10)
    assert orjson.loads(rows[2][5])["title"] == "Heat"


def test_rerun_of_finished_job_makes_zero_backend_calls(project: Path) -> None:
    run_job(project, FakeBackend())
    again = FakeBackend()
    summary = run_job(project, again)
    assert sum(again.calls.values()) == 0
    assert (summary.ok, summary.cached, summary.status) == (0, 5, "finished")


def test_backend_factory_is_called_only_when_a_request_must_be_sent(project: Path) -> None:
    made: list[FakeBackend] = []

    def factory() -> FakeBackend:
        made.append(FakeBackend())
        return made[-1]

    first = run_job(project, factory)
    assert (first.ok, len(made)) == (5, 1) and made[0].started and made[0].closed
    again = run_job(project, factory)  # a replay of the finished run: no backend is made
    assert (again.cached, again.status, len(made)) == (5, "finished", 1)


def test_rendered_request_carries_row_values_and_schema(project: Path) -> None:
    backend = FakeBackend()
    run_job(project, backend)
    heat = next(r for r in backend.requests if r.row_id == "3")
    assert "Heat (1995)" in heat.messages[-1]["content"]
    assert "Al Pacino" in heat.messages[-1]["content"]
    assert heat.schema is not None and "clean_title" in heat.schema["properties"]
    assert heat.params["temperature"] == 0.0


def test_schema_violation_is_repaired_once_then_recorded(project: Path) -> None:
    def answer(request: LLMRequest) -> LLMResult:
        if request.row_id == "2":
            return LLMResult(request, content='{"clean_title": "x"}')  # always wrong shape
        if request.row_id == "3" and request.attempt == 0:
            return LLMResult(request, content='{"oops": ')  # fixed by the re-ask
        return valid_item_metadata(request)

    backend = FakeBackend(answer)
    summary = run_job(project, backend)
    assert (summary.ok, summary.failed) == (4, 1)
    attempts = sorted((r.row_id, r.attempt) for r in backend.requests if r.row_id in "23")
    assert attempts == [("2", 0), ("2", 1), ("3", 0), ("3", 1)]
    with Store(project / "enrich.duckdb", read_only=True) as store:
        kind, message, content = store.sql(
            "SELECT error_kind, message, content FROM failures").fetchone()
    assert kind == "schema_violation" and "summary" in message
    assert content == '{"clean_title": "x"}'


def test_fenced_or_truncated_json_is_repaired_without_a_new_call(project: Path) -> None:
    def answer(request: LLMRequest) -> LLMResult:
        good = valid_item_metadata(request).content or ""
        if request.row_id == "1":
            return LLMResult(request, content=f"```json\n{good}\n```")
        return LLMResult(request, content=good)

    backend = FakeBackend(answer)
    summary = run_job(project, backend)
    assert summary.ok == 5 and sum(backend.calls.values()) == 5


def test_transport_failures_are_rows_in_failures_and_retry_recovers_them(project: Path) -> None:
    def flaky(request: LLMRequest) -> LLMResult:
        if request.row_id in ("2", "4"):
            return LLMResult(request, error_kind="http_error", error="HTTP 503: busy", sends=5)
        return valid_item_metadata(request)

    first = run_job(project, FakeBackend(flaky))
    assert (first.ok, first.failed, first.failures_by_kind) == (3, 2, {"http_error": 2})
    # a plain rerun re-sends transient failures (5xx here), and only those, in the same run
    again = FakeBackend(flaky)
    second = run_job(project, again)
    assert sorted(r.row_id for r in again.requests) == ["2", "4"]
    assert (second.run_id, second.failed, second.status) == (first.run_id, 2, "finished")
    # ... and `retry` does too, only those
    healthy = FakeBackend()
    job = load_job(project / "jobs" / "job.yaml")
    with Store(project / "enrich.duckdb") as store:
        retried = asyncio.run(Runner(RunPlan.build(job, store), store, healthy,
                                     retry_run=first.run_id).run())
        assert consistency_problems(store) == {}
    assert sorted(r.row_id for r in healthy.requests) == ["2", "4"]
    assert (retried.ok, retried.failed, retried.pending, retried.status) == (5, 0, 0, "finished")


def test_rows_with_identical_prompts_share_one_request(project: Path) -> None:
    csv = project / "data" / "movies.csv"
    csv.write_text(csv.read_text()
                   + "6,Heat,1995,Action|Crime|Thriller,Al Pacino; Robert De Niro\n")
    backend = FakeBackend(delay=0.01)
    summary = run_job(project, backend)
    assert sum(backend.calls.values()) == 5
    assert (summary.ok, summary.cached) == (5, 1)


def test_limit_override_and_fingerprint_resume(project: Path) -> None:
    summary = run_job(project, FakeBackend(), overrides={"limit": 2})
    assert (summary.rows_total, summary.ok) == (2, 2)
    full = run_job(project, FakeBackend())
    assert (full.rows_total, full.cached, full.ok) == (5, 2, 3)


def test_fatal_backend_error_stops_the_job_with_a_clear_message(project: Path) -> None:
    from enrich.errors import BackendError

    def unauthorized(request: LLMRequest) -> LLMResult:
        return LLMResult(request, error_kind="fatal", error="the server rejected the API key")

    with pytest.raises(BackendError, match="rejected the API key"):
        run_job(project, FakeBackend(unauthorized))
    with Store(project / "enrich.duckdb", read_only=True) as store:
        assert store.sql("SELECT count(*) FROM outputs").fetchone()[0] == 0
        # it stored nothing, so the new run is removed again: the store is as it was
        assert store.sql("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_missing_column_in_template_names_column_and_row(project: Path) -> None:
    from enrich.errors import ConfigError

    (project / "prompts" / "bad.yaml").write_text(
        "name: bad\nschema: ItemMetadata\nuser: 'Title: {{ titel }}'\n")
    job = BASIC_JOB.replace("prompt: item_metadata", "prompt: bad")
    with pytest.raises(ConfigError, match=r"row 1: .*'titel' is undefined"):
        run_job(project, FakeBackend(), job)


def test_a_truncated_answer_is_asked_again_with_twice_the_room(project: Path) -> None:
    """finish_reason "length": the same messages again with max_tokens doubled (capped), not
    the same request that was cut; the stored request records the room it got."""
    from enrich.reask import MAX_REASK_TOKENS

    def cut_below_1000_tokens(request: LLMRequest) -> LLMResult:
        good = valid_item_metadata(request)
        if request.params["max_tokens"] < 1000:
            return LLMResult(request, content=(good.content or "")[:25], finish_reason="length")
        return good

    backend = FakeBackend(cut_below_1000_tokens)
    summary = run_job(project, backend, BASIC_JOB + "repair_attempts: 3\n")
    assert (summary.ok, summary.failed) == (5, 0)
    first = sorted((r.attempt, r.params["max_tokens"]) for r in backend.requests
                   if r.row_id == "1")
    start = first[0][1]
    assert first == [(i, min(start * 2 ** i, MAX_REASK_TOKENS)) for i in range(len(first))]
    assert first[-1][1] >= 1000 and all(r.messages == backend.requests[0].messages
                                        for r in backend.requests if r.row_id == "1")
    with Store(project / "enrich.duckdb", read_only=True) as store:
        params = store.sql("SELECT params FROM requests WHERE row_id = '1'").fetchone()[0]
    assert orjson.loads(params)["max_tokens"] == first[-1][1]


def test_a_truncated_answer_at_the_cap_is_recorded_as_truncated(project: Path) -> None:
    def always_cut(request: LLMRequest) -> LLMResult:
        return LLMResult(request, content='{"clean_title": "Toy', finish_reason="length")

    backend = FakeBackend(always_cut)
    summary = run_job(project, backend, BASIC_JOB + "params: {max_tokens: 8192}\n")
    assert summary.failures_by_kind == {"truncated": 5}
    assert {r.params["max_tokens"] for r in backend.requests} == {8192}  # no more room to give
