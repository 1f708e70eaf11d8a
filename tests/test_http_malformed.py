"""Malformed server answers are row failures with the server's own words: never a crashed job,
never a dead worker; bodies that show the URL is wrong stop the job with one message."""

import asyncio
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.backends import openai_http
from enrich.backends.base import LLMRequest, LLMResult
from enrich.backends.openai_http import MAX_ANSWER_CHARS, OpenAICompatibleBackend
from enrich.backends.response_parse import Answer, BadAnswer, parse_completion, token_count
from enrich.jobs import BackendSpec
from enrich.testing.scripted_server import Reply, ScriptedServer, completion

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
GOOD = completion('{"a": "x"}')
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Sign in · Corp SSO</title></head><body>…</body>"
REQUEST = LLMRequest("k", "1", [{"role": "user", "content": "x"}], {}, SCHEMA, "A")
KEYED = OpenAICompatibleBackend(BackendSpec(kind="openai", base_url="http://127.0.0.1:9/v1",
                                            model="m"), 1, api_key="sk-test-0123456789abcdef")
STREAM = 'data: {"choices": [{"delta": {"content": "{"}}]}\n\ndata: [DONE]\n\n'


@pytest.mark.parametrize(("body", "content"), [
    (completion([{"type": "text", "text": '{"a": '}, {"type": "text", "text": '"x"}'}]),
     '{"a": "x"}'),
    (completion({"a": "x"}), '{"a":"x"}'),
    ({"choices": [{"text": '{"a": "x"}', "finish_reason": "stop"}]}, '{"a": "x"}'),
    (completion(None), None),
])
def test_unusual_but_usable_shapes_are_read(body: dict[str, Any], content: str | None) -> None:
    parsed = parse_completion(orjson.dumps(body))
    assert isinstance(parsed, Answer) and parsed.content == content


@pytest.mark.parametrize(("body", "content_type", "kind", "words", "sent"), [
    ({"choices": [], "error": {"message": "upstream overloaded"}}, "application/json",
     "bad_response", "upstream overloaded", ""),
    ({"choices": [{"message": {"role": "assistant", "content": None,
                               "refusal": "I can't help with that."}}]}, "application/json",
     "refused", "I can't help with that.", ""),
    ({"object": "list", "data": []}, "application/json", "bad_response", "no `choices`", ""),
    ({"choices": ["oops"]}, "application/json", "bad_response", "not an object", ""),
    ({"choices": [{"index": 0}]}, "application/json", "bad_response", "neither", ""),
    ([1, 2], "application/json", "bad_response", "not a chat completion", "not_json"),
    (LOGIN_PAGE, "text/html", "bad_response", "Sign in · Corp SSO", "html"),
    (STREAM, "text/event-stream", "bad_response", "event stream", "sse"),
    ("Bad Gateway", "text/plain", "bad_response", "not JSON: 'Bad Gateway'", "not_json"),
])
def test_unusable_bodies_keep_the_servers_words(body: Any, content_type: str, kind: str,
                                                words: str, sent: str) -> None:
    raw = body.encode() if isinstance(body, str) else orjson.dumps(body)
    parsed = parse_completion(raw, content_type)
    assert isinstance(parsed, BadAnswer)
    assert (parsed.kind, parsed.sent) == (kind, sent) and words in parsed.message


def test_huge_content_is_refused_with_its_size() -> None:
    parsed = parse_completion(orjson.dumps(completion("x" * 2_000_001)), max_content_chars=1 << 20)
    assert isinstance(parsed, BadAnswer) and parsed.kind == "too_large"
    assert "2,000,001 characters" in parsed.message and not parsed.retry


@pytest.mark.parametrize(("value", "count"), [
    (7, 7), (-3, 0), ("12", 12), ("twelve", 0), (3.9, 3), (float("nan"), 0), (None, 0),
    (True, 0), ([1], 0), ({"n": 1}, 0), (10**30, 10**30)])
def test_token_counts_are_never_negative_or_an_exception(value: Any, count: int) -> None:
    assert token_count(value) == count


# -- any envelope at all ------------------------------------------------------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
                     max_leaves=10)
_keys = st.sampled_from(["choices", "message", "content", "text", "usage", "prompt_tokens",
                         "completion_tokens", "finish_reason", "logprobs", "refusal", "error",
                         "type"])
_mutants = st.recursive(_json, lambda c: st.dictionaries(_keys, c, max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(body=_mutants | st.builds(lambda m: {"choices": [m]}, _mutants)
       | st.builds(lambda m: {"choices": [{"message": m}], "usage": m}, _mutants))
def test_any_json_envelope_is_an_answer_or_a_failure(body: Any) -> None:
    raw = json.dumps(body).encode()  # stdlib: big ints and NaN too
    parsed = parse_completion(raw)
    assert isinstance(parsed, Answer | BadAnswer)
    if isinstance(parsed, Answer):
        assert parsed.content is None or isinstance(parsed.content, str)
        assert parsed.prompt_tokens >= 0 and parsed.completion_tokens >= 0
    # and the backend makes a row result (or a retry) of it, never an exception
    outcome = KEYED._from_body(REQUEST, raw, "application/json")
    if isinstance(outcome, LLMResult):
        assert outcome.ok or outcome.error_kind in ("bad_response", "refused", "too_large")
    else:
        assert outcome.kind == "bad_response" and outcome.error


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300), content_type=st.sampled_from(
    ["application/json", "text/html", "text/event-stream", "text/plain", ""]))
def test_any_bytes_are_an_answer_or_a_failure(raw: bytes, content_type: str) -> None:
    assert isinstance(parse_completion(raw, content_type), Answer | BadAnswer)


# -- through the backend ------------------------------------------------------------------------

def _run(reply, n: int = 6, concurrency: int = 2, **spec: Any) -> tuple[list[LLMResult], int]:
    async def go() -> tuple[list[LLMResult], int]:
        async def stream():
            for i in range(n):
                yield LLMRequest(f"k{i}", str(i), [{"role": "user", "content": f"row {i}"}],
                                 {"max_tokens": 20}, SCHEMA, "A")

        async with ScriptedServer(reply) as server:
            options = {"server": "vllm", "max_retries": 0, **spec}
            backend = OpenAICompatibleBackend(BackendSpec(
                kind="openai", base_url=server.url, model="test-model", **options),
                concurrency, warn=lambda line: None)
            await backend.start()
            try:
                return [r async for r in backend.generate(stream())], len(server.bodies)
            finally:
                await backend.close()

    return asyncio.run(go())


@pytest.mark.parametrize(("body", "content_type", "words"), [
    (LOGIN_PAGE, "text/html", "an HTML page"),
    (STREAM, "text/event-stream", "an event stream"),
])
def test_a_url_that_answers_with_pages_stops_the_job(body: str, content_type: str,
                                                     words: str) -> None:
    results, sent = _run(lambda n, b: Reply(body, content_type=content_type), n=20,
                         concurrency=1)
    [fatal] = [r for r in results if r.error_kind == "fatal"]
    assert words in (fatal.error or "") and "check --base-url" in (fatal.error or "")
    assert all(r.error_kind == "fatal" for r in results), "the first answers were held back"
    assert sent == 3


def test_malformed_answers_are_row_failures_and_the_workers_go_on() -> None:
    shapes = [Reply({"choices": []}), Reply(completion("x" * (MAX_ANSWER_CHARS + 1))),
              Reply({"choices": [{"message": {"refusal": "no"}}]}), Reply(GOOD),
              Reply(completion('{"a": "y"}', usage={"prompt_tokens": "n/a",
                                                   "completion_tokens": -4})), Reply(GOOD)]
    results, sent = _run(lambda n, body: shapes[int(body["messages"][0]["content"][4:])],
                         n=len(shapes))
    by_row = {r.request.row_id: r for r in results}
    assert sent == len(shapes) and len(by_row) == len(shapes)
    assert [by_row[str(i)].error_kind for i in range(len(shapes))] == [
        "bad_response", "too_large", "refused", None, None, None]
    assert "no `choices`" in (by_row["0"].error or "")
    assert f"{MAX_ANSWER_CHARS + 1:,} characters" in (by_row["1"].error or "")
    assert by_row["4"].prompt_tokens == 0 and by_row["4"].completion_tokens == 0


def test_an_exception_while_reading_is_one_rows_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    real = openai_http.parse_completion

    def flaky(raw: bytes, *args: Any) -> Any:
        if b"boom" in raw:
            raise RuntimeError("parser exploded")
        return real(raw, *args)

    monkeypatch.setattr(openai_http, "parse_completion", flaky)
    results, _ = _run(lambda n, body: Reply(completion('"boom"') if n == 1 else GOOD), n=4,
                      concurrency=1)
    kinds = sorted((r.error_kind or "ok") for r in results)
    assert kinds == ["backend_error", "ok", "ok", "ok"]
    assert "RuntimeError: parser exploded" in "".join(r.error or "" for r in results)


def test_a_body_over_the_cap_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_http, "MAX_BODY_BYTES", 10_000)
    results, _ = _run(lambda n, body: Reply(completion("y" * 20_000)), n=1)
    assert results[0].error_kind == "too_large" and "10,000 bytes" in (results[0].error or "")
