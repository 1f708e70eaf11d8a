"""Every dashboard page runs without exceptions on a fixture store (Streamlit AppTest)."""

import math
from pathlib import Path

import pytest
from test_eval_helpers import JUDGE_V2, judge_backend, write_judge_project

from enrich.dashboard import app_path
from enrich.evaluate.bootstrap import Estimate
from enrich.evaluate.evaluation import evaluate_suite
from enrich.evaluate.execute import PromptRef
from enrich.evaluate.results import SuiteResult
from enrich.evaluate.suites import load_suite

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

DASHBOARD = app_path().parent  # enrich/dashboard/: the app ships inside the package
PAGES = ["runs", "outputs", "labels", "versions", "retrieval"]


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store with two versions of a judge prompt run on a golden set, one failed row, and
    a saved retrieval result."""
    import shutil

    REPO = Path(__file__).resolve().parent.parent  # not conftest's: tests/conformance has one too

    project = tmp_path_factory.mktemp("dash")
    shutil.copytree(REPO / "prompts", project / "prompts")
    shutil.copytree(REPO / "schemas", project / "schemas",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (project / "data").mkdir()
    suite = load_suite(write_judge_project(project))
    db = project / "fixture.duckdb"

    def flaky(job, plan):
        backend = judge_backend()
        answer = backend.answer

        def maybe_fail(request):
            if request.row_id == "3":
                from enrich.backends.base import LLMResult
                return LLMResult(request, error_kind="http_error", error="HTTP 503", sends=3)
            return answer(request)

        backend.answer = maybe_fail
        return backend

    first = evaluate_suite(suite, db, backend_factory=flaky)
    (project / "prompts" / "judge.yaml").write_text(JUDGE_V2, encoding="utf-8")
    evaluate_suite(suite, db, PromptRef("judge"), backend_factory=lambda j, p: judge_backend())
    results = project / "results"
    first.result.save(results)
    nan = math.nan
    SuiteResult("cranfield_retrieval", "retrieval", "bm25",
                {"ndcg@10": Estimate(0.62, 0.53, 0.71, 30), "mrr": Estimate(0.88, nan, nan, 30)},
                {"model": "bm25s", "license": "test"}).save(results)
    return db, results


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exceptions(page: str, fixture_store, monkeypatch) -> None:
    db, results = fixture_store
    monkeypatch.setenv("ENRICH_DB", str(db))
    monkeypatch.setenv("ENRICH_EVAL_RESULTS", str(results))
    app = AppTest.from_file(str(DASHBOARD / "views" / f"{page}.py"), default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    assert app.title[0].value


def test_runs_page_shows_the_run_table(fixture_store, monkeypatch) -> None:
    db, _ = fixture_store
    monkeypatch.setenv("ENRICH_DB", str(db))
    app = AppTest.from_file(str(DASHBOARD / "views" / "runs.py"), default_timeout=60).run()
    table = app.dataframe[0].value
    assert len(table) == 2 and set(table["job_name"]) == {"eval-judge_suite"}
    assert table["failed"].sum() == 1


def test_outputs_page_filters_failed_rows_and_shows_the_error(fixture_store,
                                                              monkeypatch) -> None:
    db, _ = fixture_store
    monkeypatch.setenv("ENRICH_DB", str(db))
    app = AppTest.from_file(str(DASHBOARD / "views" / "outputs.py"), default_timeout=60).run()
    run_box = app.selectbox(key="outputs_run")
    failed_run = next(o for o in run_box.options if "judge@" in o)
    for option in run_box.options:  # the run with the failure is the older one
        run_box.set_value(option).run()
        app.radio[0].set_value("failed").run()
        if len(app.dataframe[0].value):
            failed_run = option
            break
    assert failed_run
    assert list(app.dataframe[0].value["row_id"]) == ["3"]
    assert "HTTP 503" in app.error[0].value


def test_labels_page_scores_against_the_input_rating(fixture_store, monkeypatch) -> None:
    db, _ = fixture_store
    monkeypatch.setenv("ENRICH_DB", str(db))
    app = AppTest.from_file(str(DASHBOARD / "views" / "labels.py"), default_timeout=60).run()
    metrics = app.dataframe[0].value
    assert "roc_auc" in set(metrics["metric"])
    assert app.selectbox[1].value == "relevance"


def test_versions_page_compares_the_two_versions(fixture_store, monkeypatch) -> None:
    db, _ = fixture_store
    monkeypatch.setenv("ENRICH_DB", str(db))
    app = AppTest.from_file(str(DASHBOARD / "views" / "versions.py"), default_timeout=60).run()
    assert "STRICT" in app.code[0].value  # the text diff
    comparison = app.dataframe[1].value
    assert set(comparison["verdict"]) & {"better", "no clear difference", "worse"}


def test_app_entry_point_runs(fixture_store, monkeypatch) -> None:
    db, _ = fixture_store
    monkeypatch.setenv("ENRICH_DB", str(db))
    app = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "Runs"  # the default page of the navigation


def test_missing_store_is_one_message(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ENRICH_DB", str(tmp_path / "none.duckdb"))
    app = AppTest.from_file(str(DASHBOARD / "views" / "runs.py"), default_timeout=30).run()
    assert not app.exception
    assert "no store" in app.error[0].value
