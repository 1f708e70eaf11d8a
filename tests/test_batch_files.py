"""Provider batch files: `enrich batch export` → a provider's results → `enrich batch import`.

The files are shaped exactly like the documented formats:

- requests: vLLM's ``BatchRequestInput`` (``vllm/entrypoints/openai/run_batch.py``: ``custom_id``,
  ``method``, ``url``, ``body``), which is OpenAI's batch input line
  (https://platform.openai.com/docs/api-reference/batch/request-input);
- results: vLLM's ``BatchRequestOutput`` / ``BatchResponseData`` (same file: ``id``,
  ``custom_id``, ``response`` {``status_code``, ``request_id``, ``body``} or null, ``error``;
  vLLM's error lines carry ``status_code`` 400, no body and the error beside it), which is
  OpenAI's output and error file line (https://platform.openai.com/docs/api-reference/batch/
  request-output; ``error.code`` ``batch_expired`` / ``batch_cancelled`` / ``request_timeout``).

Results come from the test server's batch mode (``enrich.testing.fake_batch``: every line sent to
the fake server, screened as OpenAI or vLLM would) or are written by hand below.
"""

import functools
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from fakes import valid_item_metadata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import run_cli
from scale_helpers import batch_project, stored

from enrich.backends.base import LLMRequest
from enrich.batch_files.formats import BatchOutputLine, BatchRequestLine
from enrich.testing.fake_batch import run_batch
from enrich.testing.fake_server import FakeServer, FakeServerConfig


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines() if raw.strip()]


def test_export_writes_the_documented_request_lines_one_per_prompt(tmp_path: Path) -> None:
    job = batch_project(tmp_path)
    for fmt in ("openai", "vllm"):
        out = tmp_path / f"{fmt}.jsonl"
        result = run_cli(["batch", "export", str(job), "--format", fmt, "--out", str(out),
                          "--db", "e.duckdb"], tmp_path)
        assert result.code == 0, result.stderr
        written = [BatchRequestLine.model_validate(line) for line in lines(out)]
        assert len(written) == 9 and len({w.custom_id for w in written}) == 9
        assert {w.url for w in written} == {"/v1/chat/completions"}
        body = written[0].body
        assert body["model"] == "test-model" and body["messages"][0]["role"] == "system"
        if fmt == "openai":  # OpenAI's names: max_completion_tokens, response_format
            assert "max_completion_tokens" in body and "max_tokens" not in body
            assert body["response_format"]["type"] == "json_schema"
        else:  # vllm run-batch reads the same line; structured_outputs from vLLM 0.10.2
            assert body["max_tokens"] == 320 and "json" in body["structured_outputs"]
    split = run_cli(["batch", "export", str(job), "--out", str(tmp_path / "s.jsonl"),
                     "--max-requests", "4", "--db", "e.duckdb"], tmp_path)
    assert split.code == 0, split.stderr
    parts = [tmp_path / n for n in ("s.jsonl", "s.part2.jsonl", "s.part3.jsonl")]
    assert [len(lines(p)) for p in parts] == [4, 4, 1]
    assert not list(tmp_path.glob(".*.writing"))


@pytest.mark.parametrize("flavour", ["openai", "vllm"])
def test_export_results_import_equals_a_live_run_and_is_idempotent(tmp_path: Path,
                                                                   flavour: str) -> None:
    """The live run speaks the same dialect as the batch file (the fake server's answers
    depend on the schema it is sent), so the stored outputs must match row for row."""
    live_dir, batch_dir = tmp_path / "live", tmp_path / "batch"
    with FakeServer(FakeServerConfig()) as server:
        live_job = batch_project(live_dir, server.url)
        assert run_cli(["run", str(live_job), "--db", "e.duckdb", "-q", "--server", flavour],
                       live_dir).code == 0
    job = batch_project(batch_dir, server.url)
    requests = batch_dir / "requests.jsonl"
    assert run_cli(["batch", "export", str(job), "--format", flavour, "--out", str(requests),
                    "--db", "e.duckdb"], batch_dir).code == 0
    output, errors = batch_dir / "output.jsonl", batch_dir / "errors.jsonl"
    run_batch(requests, output, flavour=flavour,  # type: ignore[arg-type]
              errors=errors if flavour == "openai" else None, expire={2, 5})
    expired = {lines(requests)[i]["custom_id"] for i in (1, 4)}
    files = [str(output), str(errors)] if flavour == "openai" else [str(output)]
    first = run_cli(["batch", "import", str(job), *files, "--db", "e.duckdb", "-q"], batch_dir)
    assert first.code == 0, first.stderr
    assert "7 answers" in first.stdout and "2 not run" in first.stdout
    want, got = stored(live_dir / "e.duckdb"), stored(batch_dir / "e.duckdb")
    assert len(set(want) - set(got)) == 6  # 3 rows per expired prompt stay pending
    assert {r: want[r] for r in got} == got  # row for row as the live run stored them
    # the next export holds exactly the expired requests; their results finish the run
    again = batch_dir / "again.jsonl"
    assert run_cli(["batch", "export", str(job), "--format", flavour, "--out", str(again),
                    "--db", "e.duckdb"], batch_dir).code == 0
    assert {line["custom_id"] for line in lines(again)} == expired
    run_batch(again, batch_dir / "again_out.jsonl", flavour=flavour)  # type: ignore[arg-type]
    second = run_cli(["batch", "import", str(job), str(batch_dir / "again_out.jsonl"), "--db",
                      "e.duckdb", "-q"], batch_dir)
    assert second.code == 0 and "finished" in second.stdout, second.stdout + second.stderr
    assert stored(batch_dir / "e.duckdb") == want
    third = run_cli(["batch", "import", str(job), *files, str(batch_dir / "again_out.jsonl"),
                     "--db", "e.duckdb", "-q"], batch_dir)
    assert third.code == 0 and "nothing to import" in third.stdout
    assert stored(batch_dir / "e.duckdb") == want
    check = run_cli(["status", "--db", "e.duckdb", "--check", "--json"], batch_dir)
    assert check.code == 0, check.stdout + check.stderr
    report = orjson.loads(check.stdout)
    assert report["problems"] == {} and len(report["runs"]) == 1


def _answer(key: str, content: str, status: int = 200) -> dict[str, Any]:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
    return {"id": f"batch_req_{key[:6]}", "custom_id": key,
            "response": {"status_code": status, "request_id": f"req_{key[:6]}", "body": body},
            "error": None}


def _http_error(key: str, status: int, message: str) -> dict[str, Any]:
    """OpenAI's output file: a request the API answered with an error status."""
    return {"id": f"batch_req_{key[:6]}", "custom_id": key, "response": {
        "status_code": status, "request_id": f"req_{key[:6]}", "body": {"error": {
            "message": message, "type": "invalid_request_error", "param": None,
            "code": None}}}, "error": None}


def _file_error(key: str, code: str) -> dict[str, Any]:
    """OpenAI's error file: a request that did not run (or timed out)."""
    return {"id": f"batch_req_{key[:6]}", "custom_id": key, "response": None,
            "error": {"code": code, "message": f"{code} happened"}}


def _vllm_error(key: str, message: str) -> dict[str, Any]:
    """vLLM's make_error_request_output: status 400, no body, the message beside it."""
    return {"id": "vllm-0", "custom_id": key, "response": {
        "status_code": 400, "request_id": "vllm-batch-0", "body": None}, "error": message}


VALID = valid_item_metadata(LLMRequest("k", "1", [], {})).content or ""
CASES = {  # what the file says → what the store holds for the rows of that prompt
    "answer": (lambda k: _answer(k, VALID), ("ok",)),
    "invalid": (lambda k: _answer(k, '{"clean_title": 5}'), ("failed", "schema_violation")),
    "not_json": (lambda k: _answer(k, "I cannot help"), ("failed", "invalid_json")),
    "http_400": (lambda k: _http_error(k, 400, "bad things"), ("failed", "bad_request")),
    "http_429": (lambda k: _http_error(k, 429, "slow down"), ("failed", "rate_limited")),
    "http_500": (lambda k: _http_error(k, 500, "oops"), ("failed", "http_error")),
    "timeout": (lambda k: _file_error(k, "request_timeout"), ("failed", "timeout")),
    "vllm_error": (lambda k: _vllm_error(k, "prompt too long"), ("failed", "bad_request")),
    "expired": (lambda k: _file_error(k, "batch_expired"), ("pending",)),
    "cancelled": (lambda k: _file_error(k, "batch_cancelled"), ("pending",)),
    "missing": (None, ("pending",)),
}


def _exported_keys(root: Path, job: Path) -> list[str]:
    out = root / "requests.jsonl"
    result = run_cli(["batch", "export", str(job), "--out", str(out), "--db", "e.duckdb"],
                     root)
    assert result.code == 0, result.stderr
    return [line["custom_id"] for line in lines(out)]


@functools.cache
def exported_keys() -> tuple[str, ...]:
    """The keys `batch export` writes for :func:`batch_project` (the same in every folder)."""
    with tempfile.TemporaryDirectory() as folder:
        return tuple(_exported_keys(Path(folder), batch_project(Path(folder))))


def _rows_by_key(root: Path, keys: list[str]) -> dict[str, list[str]]:
    """Export order follows the source: key i is rendered by the rows i+1, i+10, i+19."""
    return {key: [str(i + 1 + 9 * n) for n in range(3) if i + 1 + 9 * n <= 24]
            for i, key in enumerate(keys)}


def _import(root: Path, job: Path, results: list[dict[str, Any]], name: str) -> Any:
    path = root / name
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in results))
    return run_cli(["batch", "import", str(job), str(path), "--db", "e.duckdb", "-q"], root)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcomes=st.lists(st.sampled_from(sorted(CASES)), min_size=9, max_size=9),
       order=st.randoms(use_true_random=False), repeat=st.booleans())
def test_every_row_is_stored_once_with_the_live_failure_kinds(outcomes: list[str], order: Any,
                                                              repeat: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        job = batch_project(root)
        keys = list(exported_keys())
        results = [CASES[o][0](k) for k, o in zip(keys, outcomes, strict=True)
                   if CASES[o][0] is not None]
        if repeat:  # a line repeated (an output and an error file overlap): counted once
            results += results[:3]
        order.shuffle(results)
        first = _import(root, job, results, "results.jsonl")
        assert first.code == 0, first.stdout + first.stderr
        got = stored(root / "e.duckdb")
        for key, outcome in zip(keys, outcomes, strict=True):
            rows = _rows_by_key(root, keys)[key]
            expected = CASES[outcome][1]
            for row in rows:
                if expected[0] == "pending":
                    assert row not in got
                else:
                    assert got[row][:len(expected)] == expected, (outcome, got[row])
        _import(root, job, results, "results.jsonl")  # again: nothing changes
        assert stored(root / "e.duckdb") == got
        with duckdb.connect(str(root / "e.duckdb"), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_results_file_problems_are_one_line_each(tmp_path: Path) -> None:
    job = batch_project(tmp_path)
    keys = _exported_keys(tmp_path, job)
    requests = tmp_path / "requests.jsonl"
    wrong = run_cli(["batch", "import", str(job), str(requests), "--db", "e.duckdb"], tmp_path)
    assert wrong.code == 2 and "is a request, not a result" in wrong.stderr
    missing = run_cli(["batch", "import", str(job), "nope.jsonl", "--db", "e.duckdb"], tmp_path)
    assert missing.code == 2 and "cannot read the results file" in missing.stderr
    garbled = tmp_path / "garbled.jsonl"
    garbled.write_bytes(orjson.dumps(_answer(keys[0], VALID)) + b"\nnot json at all\n"
                        + orjson.dumps({"custom_id": keys[1]})[:-1] + b"\n")
    partial = run_cli(["batch", "import", str(job), str(garbled), "--db", "e.duckdb", "-q"],
                      tmp_path)
    assert partial.code == 0, partial.stderr
    assert "2 lines are not result lines" in partial.stdout and "garbled.jsonl:2" in \
        partial.stdout
    assert set(stored(tmp_path / "e.duckdb")) == {"1", "10", "19"}


def test_output_lines_read_every_documented_error_shape() -> None:
    vllm_new = {"error": {"message": "bad", "type": "BadRequestError", "param": None,
                          "code": 400}}
    vllm_old = {"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}
    for error in (vllm_new, vllm_old, "bad"):
        line = BatchOutputLine.model_validate(_vllm_error("k", "x") | {"error": error})
        assert line.error_message() == "bad"
    expired = BatchOutputLine.model_validate(_file_error("k", "batch_expired"))
    assert expired.error_code() == "batch_expired" and expired.response is None
    with pytest.raises(ValueError):
        BatchOutputLine.model_validate({"id": "x", "response": None})  # no custom_id


def test_an_import_that_matches_no_request_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    """Results exported with another --model (or from another job) answer none of this job's
    requests: one line naming the cause, no run left behind; a file imported before is not
    mistaken for one."""
    job = batch_project(tmp_path)
    requests = tmp_path / "requests.jsonl"
    export = run_cli(["batch", "export", str(job), "--out", str(requests), "--db", "e.duckdb",
                      "--model", "other-model", "--limit", "5"], tmp_path)
    assert export.code == 0, export.stderr
    # the hint repeats the options that chose the requests
    assert "--db e.duckdb --model other-model --limit 5`" in export.stdout, export.stdout
    run_batch(requests, tmp_path / "out.jsonl", flavour="openai",
              config=FakeServerConfig(models=["other-model"]))
    wrong = run_cli(["batch", "import", str(job), str(tmp_path / "out.jsonl"), "--db",
                     "e.duckdb", "-q"], tmp_path)
    assert wrong.code == 2 and "none of the 5 requests in these files" in wrong.stderr
    assert "--model" in wrong.stderr and "Traceback" not in wrong.stderr
    with duckdb.connect(str(tmp_path / "e.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    right = run_cli(["batch", "import", str(job), str(tmp_path / "out.jsonl"), "--db",
                     "e.duckdb", "--model", "other-model", "--limit", "5", "-q"], tmp_path)
    assert right.code == 0 and "finished" in right.stdout, right.stdout + right.stderr
    # the same file again for the whole job: its 5 prompts were stored before (15 of the 24
    # rows render them), the other 9 rows are pending, and the hint carries the options given
    rest = run_cli(["batch", "import", str(job), str(tmp_path / "out.jsonl"), "--db",
                    "e.duckdb", "--model", "other-model", "-q"], tmp_path)
    assert rest.code == 0, rest.stderr
    assert "9 rows left; they have no result in these files: `enrich batch export" in \
        rest.stdout and "--db e.duckdb --model other-model`" in rest.stdout, rest.stdout
    again = run_cli(["batch", "export", str(job), "--out", str(tmp_path / "more.jsonl"),
                     "--db", "e.duckdb", "--model", "other-model"], tmp_path)
    assert again.code == 0 and "24 rows: 15 stored by the job's unfinished run" in \
        again.stdout, again.stdout
