"""Error paths through ``enrich run``, against the real llama_cpp.server and the fake server.

What a user meets: a wrong model name, a wrong API key (401), a base URL without ``/v1`` (404),
rate limiting with ``Retry-After`` (429) and server errors (500) (fake only: the real server
cannot be made to send them), the server dying in the middle of a run, and the wrong
``--server`` dialect against llama_cpp.server. Expected mistakes end with one line on stderr and
exit code 2; transient trouble is retried; a dead server leaves the run interrupted, and a rerun
after the restart finishes every row.
"""

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_run import CliResult, StoreFacts, read_store, start_enrich
from llama_server import MODEL_ALIAS, LlamaServer
from targets import FAKES, KINDS, REAL, Conformance, ServerKind, fake_server

from enrich.testing.fake_server import FakeServer, FaultRates

SERVERS = [pytest.param(k.id, marks=[pytest.mark.realserver] if k.real else [])
           for k in KINDS.values()]
FAKE_SERVERS = [k.id for k in FAKES]
REAL_ONLY = [pytest.param(REAL.id, marks=[pytest.mark.realserver])]
TASK = "bad_match"  # the shortest answers (≈ 23 tokens on SmolLM2)
SERVER_WAIT_S = 5.0  # backend.server_wait_s for the kill tests (default 60 s)


@dataclass
class Endpoint:
    """A running server of one kind."""

    kind: ServerKind
    base_url: str


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, server: str) -> Iterator[Endpoint]:
    kind = KINDS[server]
    if kind.real:
        yield Endpoint(kind, request.getfixturevalue("llama_server").base_url)
        return
    with fake_server() as fake:
        yield Endpoint(kind, fake.url)


def _one_line_error(result: CliResult) -> str:
    """The single stderr line of an expected mistake (asserts there is exactly one; a
    `warning:` line before it, e.g. a --server the server does not understand, is not it)."""
    lines = [line for line in result.error_lines() if not line.startswith("warning:")]
    assert result.exit_code == 2, result.describe()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr[-800:]
    return lines[0]


@pytest.mark.parametrize("server", SERVERS)
def test_wrong_model_name(endpoint: Endpoint, conformance: Conformance, tmp_path: Path,
                          record_property: Any) -> None:
    """Exit 2 with one line naming the model asked for and the one served; nothing stored."""
    db = tmp_path / "store.duckdb"
    result = conformance.run(TASK, endpoint.base_url, endpoint.kind.dialect, db, limit=2,
                             model="no-such-model")
    record_property("observed", result.describe())
    line = _one_line_error(result)
    assert "no-such-model" in line and MODEL_ALIAS in line, line
    assert not read_store(db).failures


@pytest.mark.parametrize("server", SERVERS)
def test_wrong_api_key_401(endpoint: Endpoint, conformance: Conformance, tmp_path: Path,
                           record_property: Any) -> None:
    """Exit 2 with one line about the API key (the key itself never printed)."""
    args = conformance.run_args(TASK, endpoint.base_url, endpoint.kind.dialect,
                                tmp_path / "store.duckdb", limit=2, key_env="WRONG_KEY_VAR")
    result = conformance.enrich(args, env={"WRONG_KEY_VAR": "not-the-key-4711"})
    record_property("observed", result.describe())
    line = _one_line_error(result)
    assert "API key" in line and "401" in line, line
    assert "not-the-key-4711" not in result.stderr + result.stdout


@pytest.mark.parametrize("server", SERVERS)
def test_base_url_without_v1_404(endpoint: Endpoint, conformance: Conformance, tmp_path: Path,
                                 record_property: Any) -> None:
    """A base URL without ``/v1`` (every route 404s): exit 2, one line that says to add /v1."""
    root = endpoint.base_url.removesuffix("/v1")
    result = conformance.run(TASK, root, endpoint.kind.dialect, tmp_path / "store.duckdb",
                             limit=2)
    record_property("observed", result.describe())
    line = _one_line_error(result)
    assert "404" in line, line
    assert "/v1" in line.removeprefix("error:").replace(root, ""), \
        f"the message does not suggest a base URL ending in /v1: {line}"


@pytest.mark.parametrize("server", FAKE_SERVERS)
def test_http_500_is_retried(server: str, conformance: Conformance, tmp_path: Path,
                             record_property: Any) -> None:
    """Two 500s before each answer: every row ends ok after exactly three sends."""
    db = tmp_path / "store.duckdb"
    with fake_server(fail_first_n=2) as fake:
        result = conformance.run(TASK, fake.url, KINDS[server].dialect, db, limit=3)
        per_key = fake.stats()["per_key"]
    facts = read_store(db)
    sends = sorted(r["sends"] for r in facts.requests)
    record_property("observed", f"{facts.rows_ok}/3 ok, sends per request {sends}; "
                    f"{result.describe()[:120]}")
    assert result.exit_code == 0, result.describe()
    assert facts.rows_ok == 3 and sends == [3, 3, 3], (sends, facts.failure_kinds())
    assert sorted(per_key.values()) == [3, 3, 3]


@pytest.mark.parametrize("server", FAKE_SERVERS)
def test_http_429_honours_retry_after(server: str, conformance: Conformance, tmp_path: Path,
                                      record_property: Any) -> None:
    """Every attempt answered 429 with ``Retry-After: 1``: each retry waits the full second
    (backoff alone would be ≤ 0.375 s), no row is stored ok, any stored failure says
    `rate_limited`, and a plain rerun against a healthy server finishes every row."""
    rows, retry_after = 2, 1.0
    job = conformance.job_variant(TASK, "one-retry", {"max_retries": 1})
    db = tmp_path / "store.duckdb"
    with fake_server(faults=FaultRates(http_429=1.0), retry_after_s=retry_after) as fake:
        args = conformance.run_args(TASK, fake.url, KINDS[server].dialect, db, limit=rows,
                                    job=job)
        first = conformance.enrich(args)
        attempts = fake.stats()["per_key"]
    limited = read_store(db)
    with fake_server(port=fake.port):
        rerun = conformance.enrich(args)
    healed = read_store(db)
    record_property("observed", f"{sum(attempts.values())} attempts for {rows} rows in "
                    f"{first.seconds:.1f} s; failures {dict(limited.failure_kinds())}; rerun "
                    f"{healed.rows_ok}/{rows} ok")
    assert sorted(attempts.values()) == [2] * rows, attempts
    assert first.seconds >= rows * retry_after, first.describe()
    assert limited.rows_ok == 0 and set(limited.failure_kinds()) <= {"rate_limited"}
    assert rerun.exit_code == 0 and healed.rows_ok == rows, rerun.describe()


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return -9


def _short_wait_job(conformance: Conformance, task: str) -> Path:
    """The task's job waiting 5 s (not the default 60 s) for a server that stopped answering."""
    return conformance.job_variant(task, "short-wait", {"server_wait_s": SERVER_WAIT_S})


def _check_killed_run(code: int, log: Path, first: StoreFacts, rerun: CliResult,
                      second: StoreFacts, rows: int, record_property: Any) -> None:
    """The run stopped `interrupted` with one line saying so (exit 2: the server is down, an
    expected situation; or 130), no row was recorded as failed, and the rerun finished all."""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("error")]
    record_property("observed", f"run 1: exit {code}, {first.run_status}, {first.rows_ok} ok, "
                    f"failures {dict(first.failure_kinds())}, says {lines[-1:]}; rerun: exit "
                    f"{rerun.exit_code}, {second.rows_ok}/{rows} ok, failures "
                    f"{dict(second.failure_kinds())}")
    assert code in (2, 130) and first.run_status == "interrupted", \
        f"the run did not stop interrupted: exit {code}, status {first.run_status}"
    assert code == 130 or len(lines) == 1, f"not one error line: {lines}"
    assert not first.failures, f"a dead server is not a row failure: {first.failure_kinds()}"
    assert rerun.exit_code == 0, rerun.describe()
    assert second.rows_ok == rows and not second.failures, second.failure_kinds()


@pytest.mark.parametrize("server", REAL_ONLY)
def test_server_killed_mid_run(server: str, llama_server: LlamaServer,
                               conformance: Conformance, tmp_path: Path,
                               record_property: Any) -> None:
    """SIGKILL llama_cpp.server once it has answered a request of a 3-row run: the run stops
    interrupted (after ``server_wait_s``); after a restart on the same port, the same command
    finishes every row."""
    rows, db = 3, tmp_path / "store.duckdb"
    args = conformance.run_args(TASK, llama_server.base_url, REAL.dialect, db, limit=rows,
                                job=_short_wait_job(conformance, TASK))
    before = llama_server.chat_requests_answered()
    proc = start_enrich(args, conformance.project, conformance.env, tmp_path / "run1.log")
    try:
        _wait_for(lambda: llama_server.chat_requests_answered() > before
                  or proc.poll() is not None, 300)
        llama_server.kill()
        code = _stop_process(proc, 300)
    finally:
        if proc.poll() is None:
            proc.kill()
        llama_server.start()
    first = read_store(db)
    rerun = conformance.enrich(args)
    _check_killed_run(code, tmp_path / "run1.log", first, rerun, read_store(db), rows,
                      record_property)


@pytest.mark.parametrize("server", FAKE_SERVERS[:1])  # the dialect plays no part here
def test_fake_server_killed_mid_run(server: str, conformance: Conformance, tmp_path: Path,
                                    record_property: Any) -> None:
    """The same with the fake server (250 ms per answer, stopped after 3 requests)."""
    rows, db = 10, tmp_path / "store.duckdb"
    fake: FakeServer = fake_server(latency_ms=250)
    fake.start()
    args = conformance.run_args(TASK, fake.url, KINDS[server].dialect, db, limit=rows,
                                job=_short_wait_job(conformance, TASK))
    proc = start_enrich(args, conformance.project, conformance.env, tmp_path / "run1.log")
    try:
        _wait_for(lambda: fake.stats()["requests_total"] >= 3 or proc.poll() is not None, 60)
        fake.stop()
        code = _stop_process(proc, 300)
    finally:
        if proc.poll() is None:
            proc.kill()
        fake.stop()
    first = read_store(db)
    with fake_server(port=fake.port):
        rerun = conformance.enrich(args)
    _check_killed_run(code, tmp_path / "run1.log", first, rerun, read_store(db), rows,
                      record_property)


@pytest.mark.parametrize("dialect", ["vllm", "openai"])
@pytest.mark.parametrize("server", REAL_ONLY)
def test_wrong_dialect_names_llamacpp_server(server: str, dialect: str,
                                             llama_server: LlamaServer,
                                             conformance: Conformance, tmp_path: Path,
                                             record_property: Any) -> None:
    """``--server vllm`` (ignored: free text) or ``--server openai`` (HTTP 500) against
    llama_cpp.server: the run ends with exit 2 and one error line that names ``--server
    llamacpp-server`` (a warning before it is tolerated, and its cost is recorded). Answers are
    capped at 24 tokens: free text costs the same requests as with the job's 80, in less time."""
    db = tmp_path / "store.duckdb"
    job = conformance.job_variant(TASK, "short-answers", params={"max_tokens": 24})
    before = llama_server.chat_requests_answered()
    result = conformance.run(TASK, llama_server.base_url, dialect, db, limit=3, job=job)
    answered = llama_server.chat_requests_answered() - before
    facts = read_store(db)
    lines = result.error_lines()
    record_property("observed", f"exit {result.exit_code} after {result.seconds:.0f} s, "
                    f"{answered} chat requests answered first, {len(lines)} stderr lines, ends: "
                    f"{lines[-1][:160] if lines else ''}; stored {facts.rows_ok} ok, failures "
                    f"{dict(facts.failure_kinds())}")
    assert result.exit_code == 2, result.describe()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert "--server llamacpp-server" in errors[0], errors[0]

