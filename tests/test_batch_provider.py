"""`enrich batch submit | status | fetch`: a job through a provider's Batch API with the real
``openai`` SDK as the client, against a stand-in for OpenAI's files and batches endpoints
(``enrich.testing.fake_batch_api``; shapes from OpenAI's API reference as the SDK's
``FileObject`` / ``Batch`` / cursor page models parse them). What comes back is stored by the
same path as `enrich batch import`, so the stored rows must equal a live run's."""

import json
from pathlib import Path

import pytest
from reliability_helpers import run_cli
from scale_helpers import batch_project, stored

from enrich.testing.fake_server import FakeServer, FakeServerConfig

pytest.importorskip("openai", reason="the [batch] extra (openai SDK) is not installed")

from enrich.testing.fake_batch_api import FakeBatchApi  # noqa: E402

KEY = {"TEST_BATCH_KEY": "sk-test-123"}


def _cli(args: list[str], cwd: Path, api: FakeBatchApi, env: dict[str, str] | None = None
         ) -> "object":
    return run_cli([*args, "--base-url", api.url, "--api-key-env", "TEST_BATCH_KEY"], cwd,
                   env={**KEY, **(env or {})})


def test_submit_status_fetch_stores_what_a_live_run_stores(tmp_path: Path) -> None:
    live_dir, batch_dir = tmp_path / "live", tmp_path / "batch"
    with FakeServer(FakeServerConfig()) as server:
        live_job = batch_project(live_dir, server.url)
        assert run_cli(["run", str(live_job), "--db", "e.duckdb", "-q", "--server", "openai"],
                       live_dir).code == 0
    want = stored(live_dir / "e.duckdb")
    job = batch_project(batch_dir)
    with FakeBatchApi(api_key=KEY["TEST_BATCH_KEY"], expire={2}, polls_before_done=1) as api:
        sent = _cli(["batch", "submit", str(job), "--db", "e.duckdb"], batch_dir, api)
        assert sent.code == 0, sent.stderr
        assert "sent 9 requests" in sent.stdout and len(api.batches) == 1
        assert "`enrich batch fetch" in sent.stdout and "--db e.duckdb`" in sent.stdout
        (batch,) = api.batches.values()
        assert batch["metadata"]["enrich_job"] == "movies"
        assert list((batch_dir / "batches" / "movies").glob("requests-*.jsonl"))
        # not finished yet: fetch stores nothing and says so
        early = _cli(["batch", "fetch", str(job), "--db", "e.duckdb", "-q"], batch_dir, api)
        assert early.code == 0 and "still in_progress" in early.stdout, early.stdout
        shown = _cli(["batch", "status", str(job), "--json"], batch_dir, api)
        assert shown.code == 0, shown.stderr
        (state,) = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
        assert (state["id"], state["status"], state["job"]) == (batch["id"], "completed",
                                                                 "movies")
        assert (state["total"], state["completed"], state["failed"]) == (9, 8, 1)
        table = _cli(["batch", "status", str(job)], batch_dir, api)
        assert table.code == 0 and batch["id"] in table.stdout
        # piped, the table keeps its words whole (rich fits it to 80 columns otherwise)
        assert " completed " in table.stdout and "…" not in table.stdout, table.stdout
        done = _cli(["batch", "fetch", str(job), "--db", "e.duckdb", "-q"], batch_dir, api)
        assert done.code == 0, done.stderr
        assert "8 answers" in done.stdout and "1 not run" in done.stdout, done.stdout
        got = stored(batch_dir / "e.duckdb")
        assert len(set(want) - set(got)) == 3  # the expired prompt's 3 rows stay pending
        assert {r: want[r] for r in got} == got  # row for row as the live run stored them
        again = _cli(["batch", "fetch", str(job), "--db", "e.duckdb", "-q"], batch_dir, api)
        assert again.code == 0 and stored(batch_dir / "e.duckdb") == got  # idempotent
        # the second submit sends only the expired prompt; fetching it finishes the run
        rest = _cli(["batch", "submit", str(job), "--db", "e.duckdb"], batch_dir, api)
        assert rest.code == 0 and "sent 1 request " in rest.stdout, rest.stdout
    with FakeBatchApi(api_key=KEY["TEST_BATCH_KEY"]) as second:
        pass  # (a fresh API knows nothing of the first one's batches)
    assert not second.batches


def test_the_provider_errors_are_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    job = batch_project(tmp_path)
    with FakeBatchApi(api_key="sk-other") as api:
        rejected = _cli(["batch", "submit", str(job), "--db", "e.duckdb"], tmp_path, api)
        assert rejected.code != 0 and "rejected the API key" in rejected.stderr
        assert "Traceback" not in rejected.stderr
        # nothing was sent: no request file is left to look as if it had been
        assert not list((tmp_path / "batches").rglob("requests-*.jsonl"))
        unknown = run_cli(["batch", "status", "--batch", "batch_nope", "--base-url", api.url,
                           "--api-key-env", "TEST_BATCH_KEY"], tmp_path,
                          env={"TEST_BATCH_KEY": "sk-other"})
        assert unknown.code != 0 and "no such object" in unknown.stderr, unknown.stderr
    missing = run_cli(["batch", "status", "--api-key-env", "NOT_SET_ANYWHERE"], tmp_path)
    assert missing.code != 0 and "NOT_SET_ANYWHERE is not set" in missing.stderr
    assert "--api-key-env" in missing.stderr and "api_key_env`" not in missing.stderr
    down = run_cli(["batch", "status", "--base-url", "http://127.0.0.1:9/v1",
                    "--api-key-env", "TEST_BATCH_KEY"], tmp_path, env=KEY)
    assert down.code != 0 and "cannot reach" in down.stderr, down.stderr
