"""The conformance suite's own helpers: the per-dialect request checks and the feature table.

These decide what the suite reports, so they are tested like product code: the request checks
must reject what each server rejects or ignores, and the table must show every record.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from feature_table import main, render
from hypothesis import given
from hypothesis import strategies as st
from llama_server import LlamaServer
from outcomes import load_results, merge_results, outcome_record
from schema_checks import openai_strict_problems, same_shape, sent_schema

from enrich.schema_registry import SchemaRegistry

REPO = Path(__file__).resolve().parents[2]
LABEL = {"type": "object", "additionalProperties": False, "required": ["label", "reason"],
         "properties": {"label": {"type": "string", "enum": ["good", "bad"]},
                        "reason": {"type": "string", "maxLength": 100}}}


def test_each_dialect_accepts_only_its_own_form() -> None:
    forms = {
        "vllm": {"structured_outputs": {"json": LABEL}},
        "llamacpp-server": {"response_format": {"type": "json_object", "schema": LABEL}},
        "openai": {"response_format": {"type": "json_schema", "json_schema": {
            "name": "MatchLabel", "strict": True, "schema": {
                **LABEL, "properties": {**LABEL["properties"], "reason": {"type": "string"}}}}}},
    }
    for dialect in forms:
        for form_of, body in forms.items():
            schema, problems = sent_schema(body, dialect)
            assert (not problems and same_shape(schema, LABEL)) == (form_of == dialect), \
                (dialect, form_of, problems)


def test_guided_json_is_not_the_vllm_dialect() -> None:
    """vLLM >= 0.12 ignores guided_json (HTTP 200, free text): a request using it fails."""
    assert sent_schema({"guided_json": LABEL}, "vllm")[1]


@pytest.mark.parametrize("name", ["ItemMetadata", "SyntheticQueries", "UserSummary",
                                  "MatchLabel", "QueryParse"])
def test_the_task_schemas_as_written_are_not_strict_ready(name: str) -> None:
    """The shipped schemas bound strings with maxLength, which strict mode does not document:
    an `openai` request must send a reduced copy (the check would catch the full one)."""
    schema = SchemaRegistry(REPO / "schemas").get(name).json_schema
    assert any("maxLength" in p or "minLength" in p for p in openai_strict_problems(schema))


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, min_size=1),
       st.booleans(), st.booleans())
def test_strict_needs_closed_objects_with_every_property_required(
        names: list[str], closed: bool, all_required: bool) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {n: {"type": "string"}
                                                               for n in names},
                              "required": names if all_required else names[:-1]}
    if closed:
        schema["additionalProperties"] = False
    assert (not openai_strict_problems(schema)) == (closed and all_required)


def _record(check: str, server: str, outcome: str, variant: str | None = None,
            observed: str = "seen") -> dict[str, Any]:
    params = {"server": server, **({"task": variant} if variant else {})}
    return outcome_record(f"tests/conformance/test_conformance_x.py::{check}[{server}-{variant}]",
                          check, params, outcome, "E   boom" if outcome == "failed" else "",
                          {"observed": observed}, 1.0)


def test_table_counts_and_marks_every_record(tmp_path: Path) -> None:
    records = [_record("test_job_finishes", "fake-vllm", "passed", "item_metadata"),
               _record("test_job_finishes", "fake-vllm", "failed", "bad_match"),
               _record("test_job_finishes", "llama_cpp.server", "passed", "bad_match"),
               _record("test_prompt_logprobs_not_offered", "fake-openai", "passed",
                       observed="not | returned")]
    path = tmp_path / "results.json"
    merge_results(path, records, {"llama-cpp-python": "0.3.36"})
    page = render(load_results(path))
    finish_row = next(line for line in page.splitlines() if line.startswith("| 5 task jobs"))
    assert finish_row.split(" | ")[1:3] == ["✅ 1/1", "❌ 1/2"]
    assert "not \\| returned" in page  # pipes in observations do not break the table
    assert page.count("| `job_finishes` |") == 3 and "❌ E   boom" in page


def test_merge_replaces_by_test_id_and_drops_removed_tests(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    old = [_record("test_job_finishes", "fake-vllm", "failed", "a"),
           _record("test_job_finishes", "fake-vllm", "passed", "gone")]
    merge_results(path, old, {})
    new = _record("test_job_finishes", "fake-vllm", "passed", "a")
    merge_results(path, [new], {}, collected={new["test"]})
    records = load_results(path)["records"]
    assert list(records) == [new["test"]] and records[new["test"]]["outcome"] == "passed"


def test_script_refuses_to_render_nothing(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--results", str(tmp_path / "none.json"), "--out", "-"]) == 2
    assert capsys.readouterr().err.startswith("error: no conformance results")
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"meta": {}, "records": {"t": _record("test_x", "fake-vllm",
                                                                     "passed")}}))
    out = tmp_path / "features.md"
    assert main(["--results", str(path), "--out", str(out)]) == 0
    assert out.read_text().startswith("# Backend features")


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    """What the `llama_server` fixture turns into a test failure (not a skip) in CI."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    server = LlamaServer(tmp_path / "missing.gguf", tmp_path / "server.log")
    with pytest.raises(RuntimeError, match="exited with code") as failure:
        server.start(timeout_s=120)
    assert "missing.gguf" in str(failure.value)  # the server's own reason, from its log
