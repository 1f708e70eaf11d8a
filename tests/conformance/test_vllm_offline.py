"""The ``vllm`` backend (offline ``vllm.LLM``) driven with real jobs, on a stand-in engine.

The stand-in (``vllm_standin/vllm``, NOT vLLM) copies the classes and signatures of vLLM 0.34.0
(see its README): ``LLM.chat(list_of_conversations, sampling_params=[...], use_tqdm=False)``,
``SamplingParams`` as a struct that rejects unknown keywords, outputs with
``.outputs[0].text / .token_ids / .finish_reason / .logprobs`` and ``.prompt_token_ids``, and a
whole-call ``VLLMValidationError`` for a prompt longer than ``max_model_len``.
"""

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_vllm_offline_support import (
    MODEL,
    forget_vllm,
    items_job,
    make_project,
    rows_of,
    run_job,
    standin_on_path,
)

from enrich.backends.vllm_offline import VLLMOfflineBackend
from enrich.errors import BackendError
from enrich.jobs import BackendSpec


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stand-in ``vllm`` first on ``sys.path``; yields its ``control`` module."""
    yield from standin_on_path(monkeypatch)


def _calls(control: Any) -> list[Any]:
    return [call for llm in control.instances() for call in llm.calls]


# -- jobs of 1 to 5,000 rows ------------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("concurrency", [1, 256])
@pytest.mark.parametrize("rows", [1, 10, 300, 5000])
def test_job_finishes_with_every_row_answered_in_chunks(tmp_path: Path, standin: Any,
                                                        rows: int, concurrency: int) -> None:
    project = make_project(tmp_path / "project", rows)
    db = tmp_path / "enrich.duckdb"
    summary = run_job(items_job(project, concurrency=concurrency), db)
    assert (summary.status, summary.ok, summary.failed, summary.pending) == (
        "finished", rows, 0, 0)
    calls = _calls(standin)
    assert calls and all(c.method == "chat" and c.error is None for c in calls)
    from vllm import SamplingParams

    batch = max(64, concurrency)
    for call in calls:  # lists of conversations, one SamplingParams per conversation
        assert isinstance(call.sampling_params, list)
        assert len(call.sampling_params) == len(call.inputs) <= batch
        assert all(isinstance(conv, list) and conv[-1]["role"] == "user" for conv in call.inputs)
        assert all(isinstance(sp, SamplingParams) and sp.structured_outputs is not None
                   and "clean_title" in sp.structured_outputs.json["properties"]
                   for sp in call.sampling_params)
        assert call.kwargs["use_tqdm"] is False
    assert sum(len(c.inputs) for c in calls) == rows  # each row sent once
    outputs = [o for c in calls for o in c.outputs]
    assert summary.counters.tokens_in == sum(len(o.prompt_token_ids) for o in outputs) > 0
    assert summary.counters.tokens_out == sum(len(o.outputs[0].token_ids) for o in outputs) > 0
    stored = rows_of(db, "SELECT count(*) AS n, min(prompt_tokens) AS p, "
                         "min(completion_tokens) AS c FROM requests")[0]
    assert stored["n"] == rows and stored["p"] > 0 and stored["c"] > 0


# -- log-probabilities: bad-match P(bad) ----------------------------------------------------
def _expected_p_bad(output: Any) -> float:
    """P(bad) straight from the engine's output: the probabilities of the alternatives where
    the label is written, summed per label over case variants and normalised over good /
    partial / bad (computed here, not with the backend's conversion)."""
    completion = output.outputs[0]
    labels = ("good", "partial", "bad")
    for token_id, position in zip(completion.token_ids, completion.logprobs, strict=True):
        if position[token_id].decoded_token.strip() in labels:
            mass = dict.fromkeys(labels, 0.0)
            for lp in position.values():
                word = lp.decoded_token.strip().lower()
                if word in labels:
                    mass[word] += math.exp(lp.logprob)
            return mass["bad"] / sum(mass.values())
    raise AssertionError("no label token in the output")


def test_bad_match_p_bad_comes_from_converted_logprobs(tmp_path: Path, standin: Any) -> None:
    project = make_project(tmp_path / "project")
    job = project / "jobs" / "homedepot_match_labels.yaml"
    job.write_text(job.read_text().replace("kind: llamacpp", "kind: vllm").replace(
        "model: qwen2.5-coder-0.5b", f"model: {MODEL}"))
    db = tmp_path / "enrich.duckdb"
    summary = run_job(job, db, limit=12)
    assert (summary.ok, summary.failed) == (12, 0)
    outputs = {o.request_id: o for c in _calls(standin) for o in c.outputs}
    assert all(sp.logprobs == 10 for c in _calls(standin) for sp in c.sampling_params)
    labels = rows_of(db, "SELECT m.pair_id, m.p_bad, m.p_bad_source, q.response, q.logprobs "
                         "FROM match_labels m JOIN outputs o ON o.row_id = m.pair_id "
                         "AND o.run_id = m.run_id JOIN requests q ON q.key = o.key")
    assert len(labels) == 12
    for row in labels:
        assert row["p_bad_source"] == "logprobs"
        output = outputs[orjson.loads(row["response"])["request_id"]]
        assert row["p_bad"] == pytest.approx(_expected_p_bad(output), abs=1e-5)
        entries = orjson.loads(row["logprobs"])
        assert "".join(e["token"] for e in entries) == output.outputs[0].text  # EOS dropped
        assert all(len(e["top_logprobs"]) <= 10 for e in entries)


# -- one bad prompt fails only its row ------------------------------------------------------
def test_a_prompt_too_long_fails_only_its_row(tmp_path: Path, standin: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_STANDIN_MAX_MODEL_LEN", "1500")  # the long row has ~3,200 tokens
    project = make_project(tmp_path / "project", 50, long_row="17")
    db = tmp_path / "enrich.duckdb"
    summary = run_job(items_job(project, concurrency=256), db)
    assert (summary.ok, summary.failed, summary.pending) == (49, 1, 0)
    failure = rows_of(db, "SELECT row_id, error_kind, message FROM failures")[0]
    assert (failure["row_id"], failure["error_kind"]) == ("17", "bad_request")
    assert "maximum context length is 1500 tokens" in failure["message"]
    calls = _calls(standin)
    assert calls[0].error is not None and len(calls[0].inputs) == 50  # the whole call failed
    answered = [len(c.inputs) for c in calls if c.error is None]
    assert sum(answered) == 49 and max(answered) > 1  # the others in sub-batches
    assert sum(1 for c in calls if c.error is not None) <= 2 * math.ceil(math.log2(50)) + 1


# -- parameters the engine does not know -----------------------------------------------------
@pytest.mark.parametrize(("params", "sent", "note"), [
    ("params: {logprobs: true}", 0, None),
    ("params: {logprobs: true, top_logprobs: 3}", 3, None),
    ("params: {top_logprobs: 5}", None, "`top_logprobs` without `logprobs: true`"),
    ("params: {logprobs: false, top_logprobs: 5}", None, "`top_logprobs` without"),
])
def test_openai_logprob_params_map_to_sampling_params(
        tmp_path: Path, standin: Any, caplog: pytest.LogCaptureFixture, params: str,
        sent: int | None, note: str | None) -> None:
    project = make_project(tmp_path / "project", 5)
    db = tmp_path / "enrich.duckdb"
    with caplog.at_level("WARNING", logger="enrich.backends.vllm"):
        summary = run_job(items_job(project, concurrency=4, params=params), db)
    assert (summary.ok, summary.failed) == (5, 0)
    assert {sp.logprobs for c in _calls(standin) for sp in c.sampling_params} == {sent}
    stored = rows_of(db, "SELECT logprobs FROM requests")
    if sent is None:
        assert all(r["logprobs"] is None for r in stored)
    else:
        for row in stored:
            entries = orjson.loads(row["logprobs"])
            assert entries and all(len(e["top_logprobs"]) == sent for e in entries)
    warnings = [r.getMessage() for r in caplog.records if r.name == "enrich.backends.vllm"]
    assert (len(warnings) == 1 and note in warnings[0]) if note else warnings == []


def test_without_vllm_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import sys

    forget_vllm()
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed
    backend = VLLMOfflineBackend(BackendSpec(kind="vllm", model=MODEL))
    with pytest.raises(BackendError) as caught:
        asyncio.run(backend.start())
    assert "pip install 'enrich[vllm]'" in str(caught.value)
    assert "\n" not in caught.value.message


def test_a_model_vllm_cannot_load_is_a_backend_error(standin: Any) -> None:
    import asyncio

    backend = VLLMOfflineBackend(BackendSpec(kind="vllm", model="org/does-not-exist"))
    with pytest.raises(BackendError, match="could not start `org/does-not-exist`"):
        asyncio.run(backend.start())
