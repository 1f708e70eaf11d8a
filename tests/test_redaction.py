"""Secret redaction: no form of the API key survives in what is kept, wherever it sits."""

import asyncio
import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from enrich.backends.base import LLMRequest
from enrich.backends.openai_http import OpenAICompatibleBackend
from enrich.errors import BackendError
from enrich.jobs import BackendSpec
from enrich.redact import Redactor, redact, url_credential
from enrich.testing.scripted_server import Reply, ScriptedServer, completion

KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
# what API keys are made of, plus the characters that encodings escape
KEY_ALPHABET = st.characters(min_codepoint=33, max_codepoint=126)
keys = st.text(KEY_ALPHABET, min_size=8, max_size=64)
noise = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=400)


def _encodings(key: str, user: str) -> dict[str, str]:
    b64 = base64.b64encode
    return {
        "plain": key, "upper": key.upper(), "lower": key.lower(), "swapcase": key.swapcase(),
        "url": quote(key, safe=""), "url_plus": quote_plus(key), "json": json.dumps(key)[1:-1],
        "json_slash": json.dumps(key)[1:-1].replace("/", "\\/"),
        "base64": b64(key.encode()).decode(),
        "base64_bearer": b64(f"Bearer {key}".encode()).decode(),
        "base64_basic": b64(f"{user}:{key}".encode()).decode(),
        "base64_url": base64.urlsafe_b64encode(f"{user}:{key}".encode()).decode(),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=keys, user=st.text(KEY_ALPHABET.filter(lambda c: c != ":"), max_size=12),
       form=st.sampled_from(list(_encodings("x" * 8, "u"))), before=noise, after=noise)
def test_no_form_of_the_key_survives_the_cut(key: str, user: str, form: str, before: str,
                                             after: str) -> None:
    encoded = _encodings(key, user)[form]
    text = f"{before}{encoded}{after}"
    kept = Redactor([key]).cut(text, 300)
    assert len(kept) <= 300
    assert encoded not in kept
    assert key.lower() not in kept.lower()


@settings(max_examples=200, deadline=None)
@given(key=keys, at=st.integers(min_value=250, max_value=310))
def test_a_key_straddling_the_cut_leaves_no_prefix(key: str, at: int) -> None:
    filler = "." if "." not in key else "~"
    text = filler * at + key + filler * 50
    kept = Redactor([key]).cut(text, 300)
    assert set(kept) <= {filler, "*"}, kept  # not even the key's first characters


@given(text=noise)
def test_text_without_the_key_is_unchanged(text: str) -> None:
    if KEY.lower() not in text.lower():
        assert redact(text, [KEY]) == text


def test_named_forms_and_no_secret() -> None:
    basic = base64.b64encode(f"alice:{KEY}".encode()).decode()
    assert redact(f"Authorization: Basic {basic}", [KEY]).count(KEY[:6]) == 0
    assert "Basic " in redact(f"Authorization: Basic {basic}", [KEY])
    assert redact("nothing to hide", [None, ""]) == "nothing to hide"
    assert Redactor([]).cut("x" * 500, 300) == "x" * 300
    assert redact(f"{KEY}{KEY}", [KEY]) == "******"


def test_credentials_in_the_base_url_are_refused() -> None:
    assert url_credential("https://api.example.com/v1?api-version=2024-10-21") is None
    assert url_credential("https://api.example.com/v1?api_key=abc") == "api_key"
    assert url_credential("https://api.example.com/v1?x=abc", ["abc"]) == "x"
    assert url_credential("https://bob:pw@api.example.com/v1") == "user info"
    with pytest.raises(ValidationError, match="must not hold credentials"):
        BackendSpec(kind="openai", base_url="http://h:8000/v1?token=abc", model="m")
    spec = BackendSpec(kind="openai", base_url="http://h:8000/v1?k=abc", model="m")
    with pytest.raises(BackendError, match=r"carries a credential \(k\)"):
        OpenAICompatibleBackend(spec, 1, api_key="abc")


def _request() -> LLMRequest:
    return LLMRequest("k1", "1", [{"role": "user", "content": "hi"}], {"max_tokens": 5},
                      {"type": "object", "properties": {"a": {"type": "string"}}}, "A")


async def _one(reply: Reply, api_key: str) -> tuple[object, ScriptedServer]:
    async def stream():
        yield _request()

    async with ScriptedServer(lambda n, body: reply) as server:
        spec = BackendSpec(kind="openai", base_url=server.url, model="test-model",
                           server="vllm", max_retries=0)
        backend = OpenAICompatibleBackend(spec, 1, api_key, warn=lambda line: None)
        await backend.start()
        try:
            [result] = [r async for r in backend.generate(stream())]
        finally:
            await backend.close()
    return result, server


@pytest.mark.parametrize("status", [400, 500])
def test_server_errors_echoing_the_key_are_redacted(status: int) -> None:
    bearer = base64.b64encode(f"Bearer {KEY}".encode()).decode()
    echoed = f"bad auth {KEY.upper()} / {quote(KEY)} / {bearer} " + "x" * 280 + KEY
    result, server = asyncio.run(_one(Reply({"error": {"message": echoed}}, status), KEY))
    assert server.headers[0]["Authorization"] == f"Bearer {KEY}"  # it was sent
    error = result.error or ""
    assert KEY.lower() not in error.lower() and quote(KEY) not in error and bearer not in error
    assert "bad auth ***" in error


def test_answers_quoting_the_key_are_redacted_before_they_are_kept() -> None:
    result, _ = asyncio.run(_one(Reply(completion(f'{{"a": "{KEY}"}}')), KEY))
    assert result.ok and KEY not in (result.content or "") and KEY not in (result.raw or "")
    assert result.content == '{"a": "***"}'
