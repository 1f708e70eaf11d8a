"""Reruns: an unchanged finished job is copied in SQL, and the backend starts only when a
request has to be sent (a rerun needs neither the model nor the server)."""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BASIC_JOB, MOVIES_CSV, REPO
from fakes import FakeBackend, valid_item_metadata
from hypothesis import given, settings
from hypothesis import strategies as st
from test_runner import run_job

from enrich.backends.base import LLMRequest, LLMResult
from enrich.errors import BackendError
from enrich.plan import RunPlan
from enrich.store import Store


class UnreachableBackend(FakeBackend):
    """A backend whose server is down: starting it fails."""

    async def start(self) -> None:
        raise BackendError("cannot reach the LLM server", "start it")


def _runs(project: Path) -> list[tuple[str, str]]:
    with Store(project / "enrich.duckdb", read_only=True) as store:
        return store.sql("SELECT run_id, status FROM runs ORDER BY started_at").fetchall()


def test_rerun_needs_no_backend_at_all(project: Path) -> None:
    run_job(project, FakeBackend())
    down = UnreachableBackend()
    summary = run_job(project, down)
    assert (summary.cached, summary.status) == (5, "finished")
    assert sum(down.calls.values()) == 0


def test_unchanged_rerun_copies_the_finished_run_without_rendering(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_job(project, FakeBackend())

    def no_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged rerun must not render rows")

    monkeypatch.setattr(RunPlan, "render", no_render)
    again = run_job(project, FakeBackend())
    assert again.run_id != first.run_id
    assert (again.ok, again.cached, again.failed, again.pending) == (0, 5, 0, 0)
    assert [status for _, status in _runs(project)] == ["finished", "finished"]
    with Store(project / "enrich.duckdb", read_only=True) as store:
        copied = store.sql("SELECT o.row_id, o.key, o.cached FROM outputs o WHERE run_id = ? "
                           "ORDER BY row_id", [again.run_id]).fetchall()
        original = store.sql("SELECT row_id, key FROM outputs WHERE run_id = ? ORDER BY row_id",
                             [first.run_id]).fetchall()
    assert [(r, k) for r, k, _ in copied] == original
    assert all(cached for *_, cached in copied)


def test_rerun_keeps_failures_without_sending_them(project: Path) -> None:
    def answer(request: LLMRequest) -> LLMResult:
        if request.row_id == "2":
            return LLMResult(request, error_kind="bad_request", error="HTTP 400: nope")
        return valid_item_metadata(request)

    run_job(project, FakeBackend(answer))
    again = FakeBackend()
    summary = run_job(project, again)
    assert (summary.cached, summary.failed, summary.failures_by_kind) == (
        4, 1, {"bad_request": 1})
    assert sum(again.calls.values()) == 0


def test_changed_job_setting_renders_again_but_still_hits_the_cache(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_job(project, FakeBackend())
    rendered: list[str] = []
    original = RunPlan.render

    def counting(self: RunPlan, row_id: str, *args: object, **kwargs: object) -> object:
        rendered.append(row_id)
        return original(self, row_id, *args, **kwargs)

    monkeypatch.setattr(RunPlan, "render", counting)
    again = FakeBackend()
    summary = run_job(project, again, BASIC_JOB + "max_prompt_chars: 50000\n")
    assert len(rendered) == 5  # a different job file is not copied: its limits may differ
    assert summary.cached == 5 and sum(again.calls.values()) == 0


def test_a_new_run_whose_backend_cannot_start_leaves_no_run(project: Path) -> None:
    with pytest.raises(BackendError, match="cannot reach"):
        run_job(project, UnreachableBackend())
    assert _runs(project) == []


TRANSIENT = ("connection", "timeout", "rate_limited", "http_error", "bad_response")
PERMANENT = ("bad_request", "backend_error", "invalid_json", "schema_violation", "empty_output")


def _answer_with(kinds: dict[str, str]) -> Callable[[LLMRequest], LLMResult]:
    """Each row's answer on every attempt: valid ("ok"), or the failure of its kind."""
    contents = {"invalid_json": "not json at all", "schema_violation": '{"clean_title": "x"}',
                "empty_output": ""}

    def answer(request: LLMRequest) -> LLMResult:
        kind = kinds[request.row_id]
        if kind == "ok":
            return valid_item_metadata(request)
        if kind in contents:
            return LLMResult(request, content=contents[kind])
        return LLMResult(request, error_kind=kind, error=f"{kind} (injected)")

    return answer


@settings(max_examples=8, deadline=None)
@given(st.lists(st.sampled_from(("ok", *TRANSIENT, *PERMANENT)), min_size=5, max_size=5))
def test_a_plain_rerun_re_sends_exactly_the_transient_failures(kinds_list: list[str]) -> None:
    """Any mix of transient and permanent failure kinds: a plain rerun sends the rows whose
    kind was transient again, and nothing else; permanent ones stay failed."""
    kinds = {str(i): kind for i, kind in enumerate(kinds_list, 1)}
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        shutil.copytree(REPO / "prompts", project / "prompts")
        shutil.copytree(REPO / "schemas", project / "schemas",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (project / "jobs").mkdir()
        (project / "data").mkdir()
        (project / "data" / "movies.csv").write_text(MOVIES_CSV, encoding="utf-8")
        first = run_job(project, FakeBackend(_answer_with(kinds)))
        again = FakeBackend()
        second = run_job(project, again)
        third = FakeBackend()
        run_job(project, third)
    transient = {row for row, kind in kinds.items() if kind in TRANSIENT}
    permanent = {row for row, kind in kinds.items() if kind in PERMANENT}
    assert {r.row_id for r in again.requests} == transient
    assert (second.failed, second.pending, second.status) == (len(permanent), 0, "finished")
    assert second.ok + second.cached == 5 - len(permanent)
    assert second.run_id == first.run_id or not transient  # resumed in place when re-sending
    assert sum(third.calls.values()) == 0  # nothing transient is left
