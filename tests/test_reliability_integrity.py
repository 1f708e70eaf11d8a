"""Store integrity: the consistency check catches damage, a full disk loses nothing committed,
and kills in the middle of large write transactions leave no partial row.

(Every crash and fault test also runs ``enrich status --check`` and the partial-row checks after
each kill: see ``reliability_crash.one_cycle`` and ``test_reliability_faults.py``.)
"""

import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest
from reliability_crash import assert_exactly_once, crash_cycles
from reliability_helpers import (
    assert_store_sound,
    job_yaml,
    make_project,
    run_cli,
    run_cli_process,
    write_job,
)

from enrich.testing.fake_server import FakeServer, FakeServerConfig


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(FakeServerConfig()) as running:
        yield running


DAMAGE = {
    "outputs without a request": "DELETE FROM requests WHERE key = (SELECT min(key) FROM "
                                 "requests)",
    "rows both output and failure": "INSERT INTO failures SELECT run_id, row_id, key, "
                                    "'http_error', 'x', NULL, 1, input, created_at FROM outputs "
                                    "LIMIT 1",
    "finished runs with rows pending": "UPDATE runs SET rows_total = rows_total + 1",
    "requests without an output": "DELETE FROM outputs WHERE row_id = '0'",
    "runs with more rows than their source": "UPDATE runs SET rows_total = 1",
    "new outputs whose request another run made": "UPDATE requests SET run_id = 'another'",
    "outputs of unknown runs": "UPDATE outputs SET run_id = 'gone' WHERE row_id = '1'",
    "rows with an empty id, key or message": "UPDATE failures SET message = '' ",
}


@pytest.mark.parametrize("problem", list(DAMAGE))
def test_status_check_names_each_kind_of_damage(tmp_path: Path, server: FakeServer,
                                                problem: str) -> None:
    project = make_project(tmp_path / "project")
    job = write_job(project, job_yaml(server.url))
    assert run_cli(["run", str(job), "--db", "e.duckdb", "-q"], project).code == 0
    assert_store_sound(project / "e.duckdb", project)
    with duckdb.connect(str(project / "e.duckdb")) as con:
        if problem.startswith("rows with an empty"):
            con.execute("INSERT INTO failures SELECT run_id, 'extra', NULL, 'http_error', 'x', "
                        "NULL, 1, NULL, now() FROM runs")
        con.execute(DAMAGE[problem])
    result = run_cli(["status", "--db", "e.duckdb", "--check", "--json"], project)
    assert result.code == 1
    assert problem in orjson.loads(result.stdout)["problems"], result.stdout


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_mid_run_keeps_what_was_committed_and_resumes(tmp_path: Path,
                                                                server: FakeServer) -> None:
    project = make_project(tmp_path / "project")
    rows = 400
    (project / "data" / "items.csv").write_text("item_id,title\n" + "".join(
        f"{i},{'long title ' * 150}{i}\n" for i in range(rows)), encoding="utf-8")
    job = write_job(project, job_yaml(server.url))
    args = ["run", str(job), "--db", "e.duckdb", "-q"]
    full = run_cli_process(args, project, preexec_fn=lambda: _limit_file_size(1_000_000))
    assert full.code == 2 and "no space left to write the store" in full.stderr, full.stderr
    assert len(full.stderr.strip().splitlines()) == 1 and "Traceback" not in full.stderr
    report = assert_store_sound(project / "e.duckdb", project)
    stored = report["runs"][0]["ok"]
    assert 0 < stored < rows, report  # it stopped part-way and kept what it had committed
    resumed = run_cli_process(args, project)  # space freed
    assert resumed.code == 0, resumed.stderr
    assert_exactly_once(project / "e.duckdb", {str(i) for i in range(rows)})


def test_kills_during_large_write_transactions_leave_no_partial_row(tmp_path: Path) -> None:
    rows = 80
    with FakeServer(FakeServerConfig(seed=2)) as fast:
        project = make_project(tmp_path / "project")
        (project / "data" / "items.csv").write_text("item_id,title\n" + "".join(
            f"{i},{'word ' * 8000}{i}\n" for i in range(rows)), encoding="utf-8")
        job = write_job(project, job_yaml(fast.url, concurrency=32))
        report = crash_cycles(project, job, fast, rows=rows, kills=2, sig=signal.SIGKILL,
                              seed=4)
    print(report.summary())
    assert report.final_code == 0, report.final_stderr
    assert report.unexplained_resends() == {}
    assert_exactly_once(project / "e.duckdb", {str(i) for i in range(rows)})
    assert_store_sound(project / "e.duckdb", project)


def test_a_source_changed_between_kill_and_resume_is_a_new_run_on_the_cache(
        tmp_path: Path) -> None:
    """Resuming must not mix two versions of the source (counts would no longer add up): a
    changed file starts a new run, and the rows answered before come from the cache."""
    import random

    from reliability_crash import one_cycle

    rows = 200
    with FakeServer(FakeServerConfig(latency_ms=20, seed=6)) as slow:
        project = make_project(tmp_path / "project", rows=rows)
        job = write_job(project, job_yaml(slow.url, concurrency=8))
        rng, records = random.Random(1), []
        while not records or not records[-1].committed_rows:  # a kill part-way through
            assert len(records) < 5, records
            records.append(one_cycle(project, job, slow, signal.SIGKILL, rng, rows, 1,
                                     moment=("requests", 150)))
        assert records[-1].committed_rows < rows, records
        lines = (project / "data" / "items.csv").read_text().splitlines()
        kept = [lines[0], *lines[51:], *(f"{i},Item number {i}" for i in range(rows, rows + 50))]
        (project / "data" / "items.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
        result = run_cli_process(["run", str(job), "--db", "e.duckdb", "-q"], project)
        assert result.code == 0, result.stderr
        sends = slow.stats()["per_key"]
    assert_store_sound(project / "e.duckdb", project)
    with duckdb.connect(str(project / "e.duckdb"), read_only=True) as con:
        latest = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1"
                             ).fetchone()[0]
        ids = {r[0] for r in con.execute("SELECT row_id FROM outputs WHERE run_id = ?",
                                         [latest]).fetchall()}
    assert ids == {str(i) for i in range(50, rows + 50)}
    assert sum(n - 1 for n in sends.values()) <= sum(len(r.in_flight) for r in records)
