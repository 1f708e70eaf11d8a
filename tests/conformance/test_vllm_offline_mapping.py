"""The pieces between enrich and vLLM's offline engine, checked as properties on the stand-in
(NOT vLLM; its classes are copied from vLLM 0.34.0, see ``vllm_standin/README.md``):
parameters in, log-probabilities out, prompt log-probabilities for query likelihood, and the
stand-in's own faithfulness to the signatures it copies."""

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_vllm_offline_support import MODEL, standin_on_path

from enrich.backends.vllm_mapping import engine_fields, openai_logprobs, sampling_kwargs
from enrich.backends.vllm_offline import VLLMOfflineBackend
from enrich.jobs import BackendSpec

_FIXTURE_OK = settings(max_examples=60, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stand-in ``vllm`` first on ``sys.path``; yields its ``control`` module."""
    yield from standin_on_path(monkeypatch)


# -- the stand-in copies vLLM's shapes -------------------------------------------------------
def test_standin_has_the_real_signatures_and_refusals(standin: Any) -> None:
    import vllm
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import StructuredOutputsParams

    chat = inspect.signature(vllm.LLM.chat).parameters
    assert list(chat)[:5] == ["self", "messages", "sampling_params", "use_tqdm", "lora_request"]
    generate = inspect.signature(vllm.LLM.generate).parameters
    assert generate["use_tqdm"].kind is inspect.Parameter.KEYWORD_ONLY
    assert vllm.SamplingParams().max_tokens == 16 and vllm.SamplingParams().logprobs is None
    with pytest.raises(TypeError, match="Unexpected keyword argument 'top_logprobs'"):
        vllm.SamplingParams(top_logprobs=5)
    with pytest.raises(VLLMValidationError, match="logprobs must be non-negative"):
        vllm.SamplingParams(logprobs=-3)
    assert vllm.SamplingParams(logprobs=True).logprobs == 1
    with pytest.raises(VLLMValidationError, match="must use one kind"):
        StructuredOutputsParams()
    with pytest.raises(VLLMValidationError, match="only use one kind"):
        StructuredOutputsParams(json={}, regex="x")
    llm = vllm.LLM(model=MODEL)
    with pytest.raises(TypeError, match="EngineArgs"):
        vllm.LLM(model=MODEL, no_such_engine_arg=1)
    conversation = [{"role": "user", "content": "hi"}]
    with pytest.raises(VLLMValidationError, match="must be the same"):
        llm.chat([conversation, conversation], sampling_params=[vllm.SamplingParams()])
    with pytest.raises(VLLMValidationError, match="greater than max allowed: 20"):
        llm.chat([conversation], sampling_params=[vllm.SamplingParams(logprobs=21)])
    (out,) = llm.chat(conversation, vllm.SamplingParams(max_tokens=3), use_tqdm=False)
    assert out.outputs[0].finish_reason == "length" and len(out.outputs[0].token_ids) == 3


# -- parameters in ---------------------------------------------------------------------------
_PARAMS = st.fixed_dictionaries({}, optional={
    "temperature": st.floats(0, 2), "top_p": st.floats(0.01, 1), "seed": st.integers(0, 99),
    "max_tokens": st.integers(1, 4096), "stop": st.lists(st.text(min_size=1), max_size=3),
    "logprobs": st.booleans() | st.none(), "top_logprobs": st.integers(0, 20) | st.none(),
    "max_completion_tokens": st.integers(1, 99), "response_format": st.just({"type": "text"}),
    "user": st.text(max_size=5)})


def test_params_map_to_keywords_the_engine_accepts(standin: Any) -> None:
    import vllm

    fields = engine_fields(vllm.SamplingParams)

    @_FIXTURE_OK
    @given(params=_PARAMS)
    def check(params: dict[str, Any]) -> None:
        kwargs, notes = sampling_kwargs(params, fields)
        made = vllm.SamplingParams(**kwargs)  # never an unknown keyword
        if params.get("logprobs"):
            assert made.logprobs == (params.get("top_logprobs") or 0)
        else:
            assert made.logprobs is None
        dropped = {"response_format", "user"} & set(params)
        if params.get("top_logprobs") and not params.get("logprobs"):
            dropped.add("top_logprobs")
        assert len(notes) == len(dropped) and all(any(k in n for n in notes) for k in dropped)
        if "max_completion_tokens" in params and "max_tokens" not in params:
            assert made.max_tokens == params["max_completion_tokens"]

    check()


# -- log-probabilities out -------------------------------------------------------------------
def test_logprobs_convert_to_the_openai_shape_that_spells_the_text(standin: Any) -> None:
    import vllm
    from vllm.sampling_params import StructuredOutputsParams

    llm = vllm.LLM(model=MODEL)
    schema = {"type": "object", "required": ["label", "note"], "properties": {
        "label": {"enum": ["good", "partial", "bad"]}, "note": {"type": "string",
                                                              "maxLength": 40}}}

    @_FIXTURE_OK
    @given(prompt=st.text(min_size=1, max_size=60), top=st.integers(0, 20),
           max_tokens=st.integers(1, 40))
    def check(prompt: str, top: int, max_tokens: int) -> None:
        params = vllm.SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=top,
                                     structured_outputs=StructuredOutputsParams(json=schema))
        (out,) = llm.chat([{"role": "user", "content": prompt}], params, use_tqdm=False)
        completion = out.outputs[0]
        entries = openai_logprobs(completion.token_ids, completion.logprobs, completion.text,
                                  top)
        assert "".join(e["token"] for e in entries) == completion.text
        for entry, token_id, position in zip(entries, completion.token_ids,
                                             completion.logprobs, strict=False):
            assert entry["logprob"] == position[token_id].logprob <= 0
            alternatives = [a["logprob"] for a in entry["top_logprobs"]]
            assert len(alternatives) == min(top, len(position))
            assert alternatives == sorted(alternatives, reverse=True)  # most likely first

    check()
# -- continuation scoring (query likelihood) -------------------------------------------------
def test_score_continuations_reads_prompt_logprobs_of_the_continuation(
        standin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setenv("VLLM_STANDIN_MAX_MODEL_LEN", "64")
    backend = VLLMOfflineBackend(BackendSpec(kind="vllm", model=MODEL))
    long_prefix = "Product: " + "oak table " * 100 + "\nA shopper typed:"
    pairs = [("Product: DeWalt cordless drill\nA shopper typed:", " cordless drill"),
             ("Product: oak table\nA shopper typed:", " cordless drill"),
             ("Product: lamp\nA shopper typed:", ""),
             (long_prefix, " oak table")]

    async def main() -> list[list[float]]:
        await backend.start()
        return await backend.score_continuations(pairs)

    scores = asyncio.run(main())
    llm = standin.instances()[-1]
    tokenizer = llm.get_tokenizer()
    assert [len(s) for s in scores] == [2, 2, 0, 2]  # one value per continuation token
    assert all(v > -1.5 for v in scores[0]) and all(v < -3.5 for v in scores[1])
    assert all(v > -1.5 for v in scores[3])  # the prefix was cut from the left, not the words
    (call,) = llm.calls
    assert call.method == "generate" and len(call.inputs) == 3  # the empty one is not sent
    assert (call.sampling_params.prompt_logprobs, call.sampling_params.max_tokens) == (0, 1)
    for prompt, output in zip(call.inputs, call.outputs, strict=True):
        ids = prompt["prompt_token_ids"]
        assert len(ids) < 64 and output.prompt_token_ids == ids
    first = call.inputs[0]["prompt_token_ids"]
    reference = llm.engine.prompt_logprobs(first, 0)  # the engine's own numbers
    assert scores[0] == [reference[i][first[i]].logprob for i in range(len(first) - 2,
                                                                         len(first))]
    assert tokenizer.decode(first[-2:]) == " cordless drill"


