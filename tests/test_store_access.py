"""Only ``Store`` opens a store file; one home for a run's counts and tokens.

- No module of ``enrich`` outside ``enrich/store/`` calls ``duckdb.connect`` with a path (an
  in-memory connection that reads CSV / Parquet is fine).
- The evaluation, dashboard and distillation readers go through ``Store``: a store that a job
  holds for writing gives the store's own one-line error, not DuckDB's lock message.
- ``enrich status``, the run summary and the dashboard show the same token totals for a run with
  a failed row (failed attempts on their own line), from ``store.queries.runs_counts``.
"""

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import movies_job, run_cli_process, summary_number

from enrich.errors import StoreError
from enrich.store import Store
from enrich.store.queries import run_counts, runs_counts

WIDE = {"COLUMNS": "160"}  # the run summary on one line per counter
ENRICH = Path(__file__).resolve().parent.parent / "enrich"
LOCKED = "is in use by another process"


# -- only Store opens a store file -----------------------------------------------------------

def _connect_calls_with_a_path(source: str) -> list[int]:
    """Lines calling ``duckdb.connect`` (or a ``connect`` imported from duckdb) with a database
    other than none or ``":memory:"``."""
    tree = ast.parse(source)
    bare = {alias.asname or alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "duckdb"
            for alias in node.names if alias.name == "connect"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        is_connect = (isinstance(func, ast.Attribute) and func.attr == "connect"
                      and isinstance(func.value, ast.Name) and func.value.id == "duckdb") or (
            isinstance(func, ast.Name) and func.id in bare)
        if not is_connect:
            continue
        database = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "database"), None)
        if database is None or (isinstance(database, ast.Constant)
                                and database.value in (":memory:", "")):
            continue
        found.append(node.lineno)
    return found


def test_the_connect_check_finds_a_path_and_allows_memory() -> None:
    source = ("import duckdb\nfrom duckdb import connect as c\n"
              "a = duckdb.connect()\nb = duckdb.connect(':memory:')\n"
              "d = duckdb.connect(config={'x': 1})\n"
              "e = duckdb.connect(str(path), read_only=True)\nf = c('x.duckdb')\n"
              "g = duckdb.connect(database=p)\n")
    assert _connect_calls_with_a_path(source) == [6, 7, 8]


def test_only_the_store_package_opens_a_duckdb_file() -> None:
    offenders = {}
    for path in sorted(ENRICH.rglob("*.py")):
        if path.is_relative_to(ENRICH / "store"):
            continue
        lines = _connect_calls_with_a_path(path.read_text(encoding="utf-8"))
        if lines:
            offenders[str(path.relative_to(ENRICH.parent))] = lines
    assert not offenders, f"open the store with enrich.store.Store instead: {offenders}"


def test_the_rule_is_written_where_the_store_lives() -> None:
    import enrich.store

    assert "only Store opens a store file" in (enrich.store.__doc__ or "")


# -- readers on a store a job is writing -------------------------------------------------------

@pytest.fixture
def locked_store(tmp_path: Path) -> Iterator[Path]:
    """An enrich store that another process holds open for writing."""
    db = tmp_path / "e.duckdb"
    Store(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(120)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield db
    finally:
        holder.kill()
        holder.wait()


def _assert_locked_message(exc: StoreError, db: Path) -> None:
    assert LOCKED in exc.message and str(db) in exc.message, exc.message
    assert "wait for that run to finish" in (exc.hint or ""), exc.hint
    assert "Conflicting lock" not in str(exc)  # DuckDB's own wording stays out


def test_dashboard_reader_on_a_locked_store_says_who_holds_it(locked_store: Path) -> None:
    pytest.importorskip("pandas")
    from enrich.evaluate.dashboard_data import DashboardData

    data = DashboardData(locked_store)
    for read in (data.runs, data.prompt_names, lambda: data.rows("run-x")):
        with pytest.raises(StoreError) as caught:
            read()
        _assert_locked_message(caught.value, locked_store)


def test_evaluation_reader_on_a_locked_store_says_who_holds_it(locked_store: Path,
                                                               project: Path) -> None:
    pytest.importorskip("sklearn")
    from test_eval_helpers import write_judge_project

    from enrich.evaluate.evaluation import score_run
    from enrich.evaluate.suites import load_suite

    suite = load_suite(write_judge_project(project))
    with pytest.raises(StoreError) as caught:
        score_run(suite, locked_store, "run-x")
    _assert_locked_message(caught.value, locked_store)


def test_view_reader_on_a_locked_store_says_who_holds_it(locked_store: Path) -> None:
    from enrich.distill.views import ViewReader

    with pytest.raises(StoreError) as caught:
        ViewReader(locked_store)
    _assert_locked_message(caught.value, locked_store)


def test_dashboard_page_on_a_locked_store_shows_one_message(locked_store: Path,
                                                            monkeypatch) -> None:
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from enrich.dashboard import app_path

    monkeypatch.setenv("ENRICH_DB", str(locked_store))
    app = AppTest.from_file(str(app_path().parent / "views" / "runs.py"), default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.error) == 1 and LOCKED in app.error[0].value, [e.value for e in app.error]


def test_readers_refuse_a_database_that_is_not_a_store(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    import duckdb

    from enrich.evaluate.dashboard_data import DashboardData

    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE things (x INTEGER)")
    with pytest.raises(StoreError, match="not an enrich store"):
        DashboardData(other).runs()


# -- one run-count query, tokens that agree ----------------------------------------------------



def test_status_summary_and_dashboard_agree_on_a_run_with_a_failure(project: Path) -> None:
    pytest.importorskip("pandas")
    from enrich.evaluate.dashboard_data import DashboardData
    from enrich.testing.fake_server import FakeServer, FakeServerConfig, FaultRates

    config = FakeServerConfig(models=["test-model"], seed=1,
                              faults=FaultRates(invalid_json=0.5))
    with FakeServer(config) as server:
        job = movies_job(project, server.url)
        ran = run_cli_process(["run", str(job), "--db", "e.duckdb", "-q"], project, WIDE)
        assert ran.code == 0, ran.stderr
        again = run_cli_process(["run", str(job), "--db", "e2.duckdb", "-q"], project, WIDE)
        assert again.code == 0, again.stderr
    status = run_cli_process(["status", "--db", "e.duckdb", "--json"], project, WIDE)
    assert status.code == 0, status.stderr
    run = json.loads(status.stdout)[0]
    assert run["failed"] > 0 and run["ok"] > 0 and run["tokens_in"] > 0  # both kinds of rows
    assert re.search(r"failed attempts: [\d,]+ tokens in", ran.stdout)  # reported apart

    dashboard = DashboardData(project / "e.duckdb").runs().set_index("run_id")
    shown = dashboard.loc[run["run_id"]]
    for name in ("ok", "cached", "failed", "rows_total", "tokens_in", "tokens_out"):
        assert int(shown[name]) == run[name], name
    assert summary_number(ran.stdout, "tokens in") == run["tokens_in"] == int(shown["tokens_in"])
    assert summary_number(ran.stdout, "tokens out") == run["tokens_out"] == int(shown["tokens_out"])
    assert summary_number(ran.stdout, "failed") == run["failed"]

    with Store(project / "e.duckdb", read_only=True) as store:
        tokens = store.sql("SELECT sum(prompt_tokens), sum(completion_tokens) FROM requests "
                           "WHERE run_id = ?", [run["run_id"]]).fetchone()
        assert tokens == (run["tokens_in"], run["tokens_out"])
        one = run_counts(store, run["run_id"])
        assert one == runs_counts(store)[run["run_id"]]
        assert one["failures_by_kind"] and sum(one["failures_by_kind"].values()) == one["failed"]


def test_run_counts_of_many_runs_equal_each_run_alone(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with Store(db) as store:
        for n, run_id in enumerate(("run-a", "run-b", "run-c")):
            store.create_run({"run_id": run_id, "job_name": "j", "fingerprint": "f",
                              "task": "t", "prompt_name": "p", "prompt_version": "v",
                              "schema_name": "S", "backend": "b", "model": "m",
                              "rows_total": 4 + n})
        _store_rows(store, "run-a", ok=2, cached=1, failed=1)
        _store_rows(store, "run-b", ok=1, cached=0, failed=0)
    with Store(db, read_only=True) as store:
        every = runs_counts(store)
        assert set(every) == {"run-a", "run-b", "run-c"}
        for run_id in every:
            assert every[run_id] == run_counts(store, run_id)
        assert runs_counts(store, ["run-a", "run-c", "run-nope"]) == {
            r: every[r] for r in ("run-a", "run-c")}
        a = every["run-a"]
        assert (a["ok"], a["cached"], a["failed"], a["pending"], a["rows_total"]) == (
            2, 1, 1, 0, 4)
        assert a["failures_by_kind"] == {"validation": 1}
        assert (a["tokens_in"], a["tokens_out"]) == (2 * 10, 2 * 3)  # its own requests only
        assert every["run-b"]["pending"] == 4 and every["run-b"]["tokens_in"] == 10
        assert every["run-c"]["pending"] == 6 and every["run-c"]["tokens_in"] == 0
        assert run_counts(store, "run-nope")["rows_total"] == 0


def _store_rows(store: Store, run_id: str, ok: int, cached: int, failed: int) -> None:
    """``ok`` answered rows (10 tokens in, 3 out each), ``cached`` rows answered by another
    run's request, ``failed`` validation failures."""
    now = "TIMESTAMP '2026-01-01 00:00:00'"
    for i in range(ok + cached):
        own = i < ok
        key = f"{run_id}-{i}" if own else "shared-key"
        if own or not store.sql("SELECT 1 FROM requests WHERE key = ?", [key]).fetchone():
            store.sql("INSERT INTO requests (key, run_id, row_id, prompt_name, prompt_version, "
                      "model, backend, output, prompt_tokens, completion_tokens, created_at, "
                      f"key_hash) VALUES (?, ?, ?, 'p', 'v', 'm', 'b', '{{}}', 10, 3, {now}, 0)",
                      [key, run_id if own else "run-elsewhere", str(i)])
        store.sql(f"INSERT INTO outputs VALUES (?, ?, ?, ?, NULL, {now})",
                  [run_id, str(i), key, not own])
    for i in range(failed):
        store.sql(f"INSERT INTO failures VALUES (?, ?, NULL, 'validation', 'bad', NULL, 1, "
                  f"NULL, {now})", [run_id, f"f{i}"])
