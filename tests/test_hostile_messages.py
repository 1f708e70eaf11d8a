"""Messages name what the user actually wrote (issue 17, part 7).

``ENRICH_DB`` problems name the variable and ``~`` is expanded in it and in ``--db``;
``prompt: NAME@VERSION`` in a job runs that version from the store's prompt history; ``enrich
retry`` re-sends the failed rows with the inputs stored beside them, whatever happened to the
source file since (changed or deleted), and with the prompt version the run used.
"""

from pathlib import Path

import duckdb
import orjson
import pytest
from reliability_helpers import job_yaml, make_project, run_cli, write_job

from enrich.settings import EnrichSettings
from enrich.testing.fake_server import FakeServer, FakeServerConfig


@pytest.fixture(scope="module")
def server() -> FakeServer:
    with FakeServer(FakeServerConfig()) as running:
        yield running


def test_enrich_db_problems_name_the_variable(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    job = write_job(project, job_yaml("http://127.0.0.1:9/v1"))
    result = run_cli(["run", str(job), "-q"], project, {"ENRICH_DB": "data/items.csv"})
    assert result.code == 2 and len(result.error_lines) == 1, result.stderr
    assert ("data/items.csv (from ENRICH_DB) is not a DuckDB file — set ENRICH_DB to a new "
            "file name or an existing enrich store (or unset it)") in result.stderr
    result = run_cli(["status"], project, {"ENRICH_DB": "nothing-here.duckdb"})
    assert result.code == 2 and "no store at nothing-here.duckdb (from ENRICH_DB)" in \
        result.stderr and "set ENRICH_DB to an existing store" in result.stderr
    result = run_cli(["status"], project, {"ENRICH_DB": " "})
    assert result.code == 2 and len(result.error_lines) == 1, result.stderr
    assert "environment variable ENRICH_DB: is empty" in result.stderr
    assert "fix or unset ENRICH_DB" in result.stderr
    result = run_cli(["run", str(job), "-q", "--db", "data/items.csv"], project,
                     {"ENRICH_DB": "other.duckdb"})
    assert "data/items.csv is not a DuckDB file — pass --db with" in result.stderr  # the option


def test_tilde_is_expanded_in_enrich_db_and_db(tmp_path: Path, server: FakeServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert EnrichSettings(db="~/a.duckdb").db == home / "a.duckdb"
    project = make_project(tmp_path / "project", rows=2)
    job = write_job(project, job_yaml(server.url))
    result = run_cli(["run", str(job), "-q"], project, {"ENRICH_DB": "~/env.duckdb"})
    assert result.code == 0, result.stderr
    result = run_cli(["run", str(job), "-q", "--db", "~/option.duckdb"], project)
    assert result.code == 0, result.stderr
    assert (home / "env.duckdb").is_file() and (home / "option.duckdb").is_file()
    assert not (project / "~").exists()
    assert run_cli(["status", "--db", "~/option.duckdb"], project).code == 0


def _runs(db: Path) -> list[tuple[str, str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT run_id, prompt_version, status FROM runs ORDER BY started_at"
                           ).fetchall()


def test_name_at_version_runs_that_version_from_the_store(tmp_path: Path,
                                                          server: FakeServer) -> None:
    project = make_project(tmp_path / "project", rows=3)
    job = write_job(project, job_yaml(server.url))
    assert run_cli(["run", str(job), "--db", "e.duckdb", "-q"], project).code == 0
    [(_, first_version, _)] = _runs(project / "e.duckdb")
    prompt = project / "prompts" / "label_item.yaml"
    prompt.write_text(prompt.read_text(encoding="utf-8").replace("up to 3", "at most 3"),
                      encoding="utf-8")
    pinned = write_job(project, job_yaml(server.url, name="pinned").replace(
        "prompt: label_item", f"prompt: label_item@{first_version[:6]}"), name="pinned.yaml")
    result = run_cli(["run", str(pinned), "--db", "e.duckdb", "-q"], project)
    assert result.code == 0, result.stderr
    runs = _runs(project / "e.duckdb")
    assert runs[-1][1] == first_version  # the old version ran, not the edited file
    with duckdb.connect(str(project / "e.duckdb"), read_only=True) as con:
        cached = con.execute("SELECT count(*) FROM outputs WHERE run_id = ? AND cached",
                             [runs[-1][0]]).fetchone()[0]
    assert cached == 3  # same version, same messages: every row from the cache
    unknown = write_job(project, job_yaml(server.url).replace(
        "prompt: label_item", "prompt: label_item@ffffff"), name="unknown.yaml")
    result = run_cli(["run", str(unknown), "--db", "e.duckdb", "-q"], project)
    assert result.code == 2 and len(result.error_lines) == 1, result.stderr
    assert "version `ffffff` of prompt `label_item` is unknown" in result.stderr
    assert first_version in result.stderr  # the hint lists the known versions


@pytest.mark.parametrize("what", ["deleted", "changed"])
def test_retry_uses_the_stored_inputs_not_the_source_file(tmp_path: Path, what: str) -> None:
    config = FakeServerConfig(fail_first_n=1)  # every request fails once with HTTP 500
    with FakeServer(config) as failing:
        project = make_project(tmp_path / "project", rows=4)
        job = write_job(project, job_yaml(failing.url, backend_extra="max_retries: 0"))
        first = run_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
        assert first.code == 0, first.stderr
        db = project / "e.duckdb"
        [(run_id, _, _)] = _runs(db)
        with duckdb.connect(str(db), read_only=True) as con:
            failed = dict(con.execute("SELECT row_id, input FROM failures WHERE run_id = ?",
                                      [run_id]).fetchall())
        assert len(failed) == 4
        source = project / "data" / "items.csv"
        if what == "deleted":
            source.unlink()
        else:
            source.write_text("item_id,title\n0,Another\n1,Other\n", encoding="utf-8")
        prompt = project / "prompts" / "label_item.yaml"  # the prompt file changes too
        prompt.write_text(prompt.read_text(encoding="utf-8").replace("Item {{", "Thing {{"),
                          encoding="utf-8")
        result = run_cli(["retry", run_id, "--db", "e.duckdb", "-q"], project)
        assert result.code == 0, result.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
        sent = dict(con.execute("SELECT o.row_id, q.messages FROM outputs o JOIN requests q "
                                "USING (key) WHERE o.run_id = ?", [run_id]).fetchall())
    assert set(sent) == set(failed)
    for row_id, stored in failed.items():
        title = orjson.loads(stored)["title"]
        assert title == f"Item number {row_id}"
        user = orjson.loads(sent[row_id])[-1]["content"]
        assert user.startswith(f"Item {row_id}: {title}")  # original input, original prompt
