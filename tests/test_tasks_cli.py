"""``enrich tasks list | show | summary``."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_tasks_support import TASK_JOBS, fake_backend, make_project, run_job
from typer.testing import CliRunner

from enrich.cli import app

TASKS = ("item_metadata", "synthetic_queries", "user_summaries", "bad_match",
         "query_understanding")


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_tasks_list_shows_the_five_tasks_with_views_and_jobs(cli: CliRunner,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = cli.invoke(app, ["tasks", "list", "--jobs", str(Path(__file__).parents[1] / "jobs")])
    assert result.exit_code == 0, result.output
    for name in (*TASKS, "match_labels", "query_parses", "homedepot_match_labels.yaml"):
        assert name in result.output


def test_tasks_show_lists_options_with_defaults(cli: CliRunner,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = cli.invoke(app, ["tasks", "show", "synthetic_queries"])
    assert result.exit_code == 0, result.output
    assert "filter.top_k" in result.output and "filter.retriever" in result.output
    assert "'bm25'" in result.output


def test_tasks_show_unknown_task_says_which_exist(cli: CliRunner) -> None:
    result = cli.invoke(app, ["tasks", "show", "nope"])
    assert result.exit_code != 0
    assert "bad_match" in str(result.exception)


def test_tasks_summary_prints_every_task_run(tmp_path: Path, cli: CliRunner,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path)
    for task in TASKS:  # the first 20 pairs hold bad ones (human rating < 2): AUC is defined
        run_job(project, TASK_JOBS[task], fake_backend(), limit=20 if task == "bad_match" else 3)
    monkeypatch.setenv("COLUMNS", "250")
    result = cli.invoke(app, ["tasks", "summary", "--db", str(project / "enrich.duckdb")])
    assert result.exit_code == 0, result.output
    for task, view in (("item_metadata", "item_metadata"), ("bad_match", "match_labels"),
                       ("query_understanding", "query_parses")):
        assert f"{task} → view {view}" in result.output
    assert "kept_by_kind" in result.output and "auc_p_bad_vs_human_bad" in result.output


def test_cli_import_stays_light() -> None:
    code = ("import sys, enrich.cli; heavy = {'bm25s', 'torch', 'duckdb', 'llama_cpp', "
            "'sentence_transformers'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_tasks_render_shows_a_job_row_through_its_task(tmp_path: Path, cli: CliRunner) -> None:
    project = make_project(tmp_path)
    job = project / "jobs" / "homedepot_query_parses.yaml"
    result = cli.invoke(app, ["tasks", "render", str(job), "--row", "1"])
    assert result.exit_code == 0, result.output
    assert 'Analyse this query: "1/2 sideout 90 degree elbow pvc schedule 40"' in result.output
    assert "Catalogue items a search engine finds" in result.output  # RAG context
    result = cli.invoke(app, ["tasks", "render", str(job), "--row", "99"])
    assert result.exit_code != 0 and "only 20 row(s)" in str(result.exception)  # limit: 20
