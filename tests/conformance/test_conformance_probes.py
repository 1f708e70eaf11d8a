"""What each server does with each structured-output form and with logprob requests.

One raw chat-completions request per form, straight to the server (no ``enrich`` code in
between), with a schema whose required key no free-text answer would contain. The expectations
are what the servers document (and DESIGN.md records as measured): llama_cpp.server ignores
fields it does not know (vLLM's ``structured_outputs`` / ``guided_json``: HTTP 200 with free text),
rejects ``response_format`` json_schema (HTTP 500 from its pydantic validation) and honours
json_object + schema; the fake server honours every form, which is why it cannot catch a wrong
dialect.
"""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from llama_server import MODEL_ALIAS, TEST_API_KEY
from targets import KINDS, fake_server

SERVERS = [pytest.param(k.id, marks=[pytest.mark.realserver] if k.real else [])
           for k in KINDS.values()]
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["verdict_code"],
          "properties": {"verdict_code": {"type": "string", "enum": ["x7", "y9"]}}}
FORMS: dict[str, dict[str, Any]] = {
    "structured_outputs (vLLM >= 0.10.2)": {"structured_outputs": {"json": SCHEMA}},
    "guided_json (vLLM < 0.12)": {"guided_json": SCHEMA},
    "response_format json_schema (OpenAI)": {"response_format": {
        "type": "json_schema", "json_schema": {"name": "probe", "schema": SCHEMA,
                                               "strict": True}}},
    "response_format json_object + schema (llama.cpp)": {"response_format": {
        "type": "json_object", "schema": SCHEMA}},
}
REAL_EXPECTED = {
    "structured_outputs (vLLM >= 0.10.2)": "ignored",
    "guided_json (vLLM < 0.12)": "ignored",
    "response_format json_schema (OpenAI)": "rejected",
    "response_format json_object + schema (llama.cpp)": "honoured",
}
MESSAGES = [{"role": "user", "content": "Is a hammer a good result for the search 'nails'? "
                                        "Answer in one short sentence."}]


@pytest.fixture
def base_url(request: pytest.FixtureRequest, server: str) -> Iterator[str]:
    if KINDS[server].real:
        yield request.getfixturevalue("llama_server").base_url
        return
    with fake_server() as fake:
        yield fake.url


def _chat(base_url: str, extra: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, parsed body or {"error": text}) of one chat completion."""
    body = {"model": MODEL_ALIAS, "messages": MESSAGES, "max_tokens": 24, "temperature": 0,
            "seed": 7, **extra}
    request = urllib.request.Request(
        f"{base_url}/chat/completions", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TEST_API_KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), {"error": error.read()[:300].decode("utf-8", "replace")}


def _classify(status: int, data: dict[str, Any]) -> str:
    if status != 200:
        return "rejected"
    content = data["choices"][0]["message"].get("content") or ""
    try:
        answer = json.loads(content)
    except ValueError:
        return "ignored"
    ok = isinstance(answer, dict) and answer.get("verdict_code") in ("x7", "y9")
    return "honoured" if ok else "ignored"


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("server", SERVERS)
def test_structured_output_form(server: str, form: str, base_url: str,
                                record_property: Any) -> None:
    """The server honours, ignores (HTTP 200, free text) or rejects each form, as documented."""
    status, data = _chat(base_url, FORMS[form])
    verdict = _classify(status, data)
    detail = f"HTTP {status}"
    if verdict == "ignored":
        detail += ", free text"
    record_property("observed", f"{verdict} ({detail})")
    expected = REAL_EXPECTED[form] if KINDS[server].real else "honoured"
    assert verdict == expected, f"{verdict}: {str(data)[:300]}"


@pytest.mark.parametrize("server", SERVERS)
def test_logprobs_returned(server: str, base_url: str, record_property: Any) -> None:
    """``logprobs: true, top_logprobs: 3`` with json_object + schema: every generated token
    comes back with its logprob and at least 3 alternatives. Noted too: whether an alternative
    beats the chosen token (then the logprobs are the model's raw distribution, before the
    grammar masked it) and whether the chosen token is appended to the alternatives."""
    status, data = _chat(base_url, {**FORMS["response_format json_object + schema (llama.cpp)"],
                                    "logprobs": True, "top_logprobs": 3})
    assert status == 200, data
    tokens = ((data["choices"][0].get("logprobs") or {}).get("content")) or []
    record_property("observed", _describe_logprobs(tokens))
    assert tokens and all(len(t.get("top_logprobs") or []) >= 3 for t in tokens), tokens[:2]
    assert all(isinstance(t["logprob"], float) and t["logprob"] <= 0 for t in tokens)


def _describe_logprobs(tokens: list[dict[str, Any]]) -> str:
    beaten = sum(1 for t in tokens
                 if any(alt["logprob"] > t["logprob"] + 1e-6 for alt in t.get("top_logprobs", [])))
    longer = sum(1 for t in tokens if len(t.get("top_logprobs") or []) > 3)
    text = f"{len(tokens)} tokens with logprobs"
    if beaten:
        text += (f"; at {beaten} a grammar-forbidden alternative is more likely than the chosen "
                 "token (raw distribution, not renormalised)")
    if longer:
        text += f"; chosen token appended to the 3 alternatives at {longer}"
    return text


@pytest.mark.parametrize("server", SERVERS)
def test_prompt_logprobs_not_offered(server: str, base_url: str, record_property: Any) -> None:
    """vLLM's ``prompt_logprobs`` extension (log-probabilities of the prompt's tokens, what query
    likelihood needs over HTTP): neither llama_cpp.server nor the fake returns them, so those
    scores need the embedded backend or vLLM."""
    status, data = _chat(base_url, {"prompt_logprobs": 1})
    choice = (data.get("choices") or [{}])[0]
    offered = data.get("prompt_logprobs") is not None or choice.get("prompt_logprobs") is not None
    record_property("observed", f"HTTP {status}, prompt_logprobs "
                    f"{'returned' if offered else 'not returned (field ignored)'}")
    assert status == 200, data
    assert not offered
