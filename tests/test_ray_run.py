"""Scale-out runs (`enrich run JOB --ray`): the same rows, keys, validation and failure rows as a
local run, with the requests answered by workers over Parquet shards and bulk-loaded.

Most tests run the driver with :class:`LocalExecutor` (the Ray worker class in this process),
so they need no Ray. The end-to-end test starts a local Ray instance (2 CPUs) through the CLI
against the fake server, kills a worker mid-run, and compares the store with a local run's.
"""

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import process_env, run_cli
from scale_helpers import batch_project, stored

from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.run_open import open_run
from enrich.scale import LocalExecutor, ScaleOptions, run_scaled
from enrich.scale.answers import Answered
from enrich.scale.bulk_load import load_results
from enrich.scale.prepare import Attempt, prepare_attempt
from enrich.scale.spec import WorkerSpec
from enrich.scale.worker import answers_table, write_answers
from enrich.store import Store
from enrich.store.queries import consistency_problems, run_counts
from enrich.testing.fake_server import FakeServer, FakeServerConfig, FaultRates

FAULTS = FaultRates(invalid_json=0.35, truncated_json=0.2, http_500=0.1)


def live_reference(root: Path, config: FakeServerConfig) -> dict[str, Any]:
    """The job run locally (`enrich run`) against a fresh fake server; what it stored."""
    with FakeServer(config) as server:
        job = batch_project(root, server.url)
        result = run_cli(["run", str(job), "--db", "e.duckdb", "-q"], root)
        assert result.code == 0, result.stdout + result.stderr
    return stored(root / "e.duckdb")


def scaled(root: Path, url: str, executor: Any = None, shards: int = 3) -> Any:
    """The job run by :func:`run_scaled` (the project is made once: a source file written
    again would be a new run)."""
    path = root / "jobs" / "job.yaml"
    job = load_job(path if path.exists() else batch_project(root, url))
    with Store(root / "e.duckdb") as store:
        plan = RunPlan.build(job, store)
        return run_scaled(plan, store, executor or LocalExecutor(batch_rows=2),
                          ScaleOptions(work_dir=root / "work", shards=shards), None)


def test_scaled_run_stores_what_a_local_run_stores(tmp_path: Path) -> None:
    """Invalid and truncated answers are re-asked, 500s retried, duplicates cached: the
    outputs and failure kinds equal the local run's row for row."""
    config = FakeServerConfig(faults=FAULTS, seed=3)
    want = live_reference(tmp_path / "live", config)
    assert {v[1] for v in want.values() if v[0] == "failed"}, "the faults made no failure"
    with FakeServer(config) as server:
        summary = scaled(tmp_path / "ray", server.url)
        assert stored(tmp_path / "ray" / "e.duckdb") == want
        sent = server.stats()["requests_total"]
        again = scaled(tmp_path / "ray", server.url)  # unchanged and finished: a replay
        assert server.stats()["requests_total"] == sent
    assert summary.status == "finished" and summary.pending == 0
    assert (again.cached, again.counters.requests_sent) == (summary.ok + summary.cached, 0)
    with Store(tmp_path / "ray" / "e.duckdb", read_only=True) as store:
        assert consistency_problems(store) == {}
    assert not (tmp_path / "ray" / "work").exists()  # the attempt's files and folders are gone


def test_a_rerun_after_a_crash_loads_what_workers_finished_and_sends_the_rest(
        tmp_path: Path) -> None:
    want = live_reference(tmp_path / "live", FakeServerConfig())
    root = tmp_path / "ray"
    with FakeServer(FakeServerConfig()) as server:
        job = load_job(batch_project(root, server.url))
        with Store(root / "e.duckdb") as store:  # the driver dies after the first shard
            plan = RunPlan.build(job, store)
            run_id, _ = open_run(plan, store, 24)
            attempt = Attempt(root / "work" / run_id / "attempt-1")
            prepared = asyncio.run(prepare_attempt(plan, store, run_id, attempt, shards=3))
            spec = WorkerSpec.from_plan(plan, run_id, attempt.results, root / ".cache", 1)
            first = attempt.todo_files()[0]
            done = list(LocalExecutor(batch_rows=2).run([first], spec))
            store.mark_run(run_id, "interrupted")
        finished = sum(d["requests"] for d in done)
        assert 0 < finished < prepared.requests == 9
        summary = scaled(root, server.url)
        assert summary.run_id == run_id and summary.resumed
        assert server.stats()["requests_total"] == 9  # nothing sent twice
    assert stored(root / "e.duckdb") == want


def test_a_fatal_backend_error_leaves_the_rows_pending(tmp_path: Path) -> None:
    with FakeServer(FakeServerConfig(models=["other-model"])) as server:
        result = run_cli(["run", str(batch_project(tmp_path, server.url)), "--db", "e.duckdb",
                          "-q"], tmp_path)  # (a live run says it: the model is not served)
        assert result.code == 2
        from enrich.errors import BackendError

        with pytest.raises(BackendError, match="not served"):
            scaled(tmp_path, server.url)
    with duckdb.connect(str(tmp_path / "e.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM outputs").fetchone()[0] == 0


def test_without_ray_the_run_says_which_extra_to_install(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with FakeServer(FakeServerConfig()) as server:
        job = batch_project(tmp_path, server.url)
        result = run_cli(["run", str(job), "--db", "e.duckdb", "-q", "--ray"], tmp_path)
        assert server.stats()["requests_total"] == 0
    assert result.code == 2
    assert result.error_lines == ["error: `--ray` needs Ray Data, which is not installed — "
                                  "pip install 'enrich[ray]'"]


# -- the bulk load, property-tested ---------------------------------------------------------

KINDS = st.sampled_from(["ok", "ok", "schema_violation", "http_error", "connection"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.integers(0, 5), min_size=1, max_size=14),
       files=st.lists(st.lists(st.tuples(st.integers(0, 5), KINDS), max_size=6), max_size=3))
def test_bulk_load_stores_every_answered_row_once(rows: list[int], files: list[Any]) -> None:
    """Rows wait on keys (several rows per key); result files answer keys, some twice (a batch
    Ray ran again), some not at all. After a load every row whose key has an answer is in
    outputs (cached unless it sent it) or failures, exactly once; `connection` leaves it
    pending; loading again changes nothing."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        job = load_job(batch_project(root))
        with Store(root / "e.duckdb") as store:
            plan = RunPlan.build(job, store)
            run_id, _ = open_run(plan, store, len(rows))
            attempt = Attempt(root / "attempt-1")
            attempt.folder.mkdir()
            _write_rows(attempt, rows)
            senders = {k: f"r{rows.index(k)}" for k in set(rows)}
            answers: dict[int, list[str]] = {}
            clock = itertools.count(1)  # (the earliest failure of a key is the one kept)
            for entries in files:
                batch = [_answer(k, kind, senders.get(k, "r-none"), next(clock))
                         for k, kind in entries]
                write_answers(answers_table(batch, {}, "test-model", "openai"), attempt.results)
                for k, kind in entries:
                    answers.setdefault(k, []).append(kind)
            load_results(store, plan, run_id, attempt)
            first = stored_rows(store, run_id)
            load_results(store, plan, run_id, attempt)
            assert stored_rows(store, run_id) == first
            assert consistency_problems(store) == {}
            for index, key in enumerate(rows):
                kinds = answers.get(key, [])
                best = "ok" if "ok" in kinds else next(iter(kinds), None)
                row = f"r{index}"
                if best is None or best == "connection":
                    assert row not in first
                elif best == "ok":
                    assert first[row] == ("ok", row != senders[key])
                else:
                    assert first[row][0] == "failed"
            counts = run_counts(store, run_id)
            assert counts["ok"] + counts["cached"] + counts["failed"] == len(first)


def _write_rows(attempt: Attempt, rows: list[int]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"ordinal": list(range(len(rows))),
                      "row_id": [f"r{i}" for i in range(len(rows))],
                      "key": [f"key-{k}" for k in rows],
                      "input": ['{"movie_id": "1"}'] * len(rows),
                      "messages": ['[{"role": "user", "content": "x"}]'] * len(rows)})
    pq.write_table(table, attempt.rows)


def _answer(key: int, kind: str, sender: str, created_at: int) -> Answered:
    if kind == "ok":
        return Answered(f"key-{key}", sender, True, 1, "{}", "{}", '{"a": 1}', None, "{}",
                        created_at=created_at)
    return Answered(f"key-{key}", sender, False, 1, None, error_kind=kind, error="no",
                    created_at=created_at)


def stored_rows(store: Store, run_id: str) -> dict[str, tuple[str, Any]]:
    ok = store.sql("SELECT row_id, cached FROM outputs WHERE run_id = ?", [run_id]).fetchall()
    failed = store.sql("SELECT row_id, error_kind FROM failures WHERE run_id = ?",
                       [run_id]).fetchall()
    found = {r: ("ok", c) for r, c in ok}
    assert not set(found) & {r for r, _ in failed}
    return found | {r: ("failed", k) for r, k in failed}


# -- on a real (local) Ray instance ---------------------------------------------------------


def _ray_workers(driver: int) -> Iterator[Any]:
    import psutil

    try:
        children = psutil.Process(driver).children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for child in children:
        try:
            if "GenerateBatch" in " ".join(child.cmdline()):
                yield child
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue


@pytest.mark.slow
def test_ray_run_equals_the_local_run_and_a_killed_worker_loses_nothing(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'enrich[ray]')")
    config = FakeServerConfig(latency_ms=250, seed=5)
    want = live_reference(tmp_path / "live", config)
    root = tmp_path / "ray"
    with FakeServer(config) as server:
        job = batch_project(root, server.url)
        env = process_env(root)  # (a local instance: ray.init() with this machine's CPUs)
        driver = subprocess.Popen(
            [sys.executable, "-m", "enrich.cli", "run", str(job), "--db", "e.duckdb", "-q",
             "--ray", "--workers", "2", "--shards", "3", "--concurrency", "1"],
            cwd=root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killed = None
        deadline = time.monotonic() + 240
        while killed is None and driver.poll() is None and time.monotonic() < deadline:
            if server.stats()["requests_total"] >= 2:  # the workers are answering
                for worker in _ray_workers(driver.pid):
                    killed = worker.pid
                    os.kill(worker.pid, signal.SIGKILL)
                    break
            time.sleep(0.1)
        out, err = driver.communicate(timeout=240)
        sent = server.stats()["requests_total"]
    assert driver.returncode == 0, out + err
    assert killed is not None, "the run ended before a worker could be killed"
    assert "finished" in out
    assert stored(root / "e.duckdb") == want  # row for row, nothing lost, nothing twice
    assert sent >= 9  # (the killed worker's batch was answered again)
    check = run_cli(["status", "--db", "e.duckdb", "--check", "--json"], root)
    assert check.code == 0 and orjson.loads(check.stdout)["problems"] == {}
    assert not (root / "e.duckdb.scale").exists()  # a finished run leaves no work folder
