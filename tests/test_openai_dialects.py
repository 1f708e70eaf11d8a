"""Structured-output dialects against stand-ins that behave like the real servers
(``enrich/testing/fake_dialects.py``): detection, warnings, servers that ignore or refuse the
schema, OpenAI's parameters and errors, 404s, Retry-After and stopping."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BASIC_JOB, write_job

from enrich.backends.base import LLMRequest, LLMResult
from enrich.backends.openai_http import OpenAICompatibleBackend
from enrich.errors import BackendError
from enrich.jobs import BackendSpec, load_job
from enrich.plan import RunPlan
from enrich.runner import Runner
from enrich.store import Store
from enrich.testing.fake_server import AsyncFakeServer, FakeServerConfig
from enrich.testing.scripted_server import Reply, ScriptedServer

SCHEMA = {"type": "object", "properties": {"labels": {"type": "array", "maxItems": 3,
          "items": {"type": "string", "maxLength": 20}}}, "required": ["labels"]}


def _requests(n: int, params: dict[str, Any] | None = None):
    async def stream():
        for i in range(n):
            yield LLMRequest(f"k{i}", str(i), [{"role": "user", "content": f"row {i}"}],
                             params or {"temperature": 0.0, "max_tokens": 50}, SCHEMA, "Labels")
    return stream()


async def _drive(url: str, n: int = 4, concurrency: int = 2, params: dict[str, Any] | None = None,
                 model: str = "test-model", **spec: Any
                 ) -> tuple[OpenAICompatibleBackend, list[LLMResult], list[str]]:
    warnings: list[str] = []
    backend = OpenAICompatibleBackend(BackendSpec(kind="openai", base_url=url, model=model,
                                                  **spec), concurrency, warn=warnings.append)
    await backend.start()
    try:
        results = [r async for r in backend.generate(_requests(n, params))]
    finally:
        await backend.close()
    return backend, results, warnings


def _fake(**config: Any) -> AsyncFakeServer:
    return AsyncFakeServer(FakeServerConfig(record_bodies=50, **config))


# -- detection ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("dialect", "version", "chosen", "field"), [
    ("vllm", "0.11.0", "vllm", "structured_outputs"),
    ("vllm", "0.12.1", "vllm", "structured_outputs"),
    ("vllm", "0.9.2", "vllm-legacy", "response_format"),
    ("llama-cpp-python", "", "llamacpp-server", "response_format"),
    ("llama-server", "", "llamacpp-server", "response_format"),
    ("openai", "", "openai", "response_format"),
    ("any", "", "vllm", "structured_outputs"),  # says nothing: the documented default
])
def test_the_dialect_is_detected_when_the_job_does_not_set_it(
        dialect: str, version: str, chosen: str, field: str) -> None:
    async def go() -> None:
        async with _fake(dialect=dialect, server_version=version or "0.11.0") as server:
            backend, results, warnings = await _drive(server.url)
            bodies = server.bodies()
        assert backend.dialect == chosen and warnings == []
        assert all(r.ok for r in results), [r.error for r in results]
        assert field in bodies[-1]
        assert {"structured_outputs", "guided_json", "response_format"} & set(bodies[-1]) == {
            field}

    asyncio.run(go())


def test_a_server_setting_that_cannot_work_is_warned_about_in_one_line() -> None:
    async def go() -> None:
        async with _fake(dialect="llama-cpp-python") as server:
            backend = OpenAICompatibleBackend(BackendSpec(
                kind="openai", base_url=server.url, model="test-model", server="vllm"), 1,
                warn=warnings.append)
            await backend.start()
            await backend.close()
        async with _fake(dialect="llama-server") as server:  # it takes json_schema too
            await _drive(server.url, n=1, server="openai")

    warnings: list[str] = []
    asyncio.run(go())
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "llama-cpp-python's server" in warnings[0] and "owned_by 'me'" in warnings[0]
    assert "pass --server llamacpp-server" in warnings[0]


def test_openai_is_recognised_by_its_host() -> None:
    from enrich.backends.server_kind import identity_from_url

    assert identity_from_url("https://api.openai.com/v1").preferred == "openai"
    assert identity_from_url("https://api.openai.com.evil.example/v1") is None


# -- a server that ignores or refuses the schema ------------------------------------------------

@pytest.mark.parametrize(("dialect", "version", "server"), [
    ("llama-cpp-python", "", "vllm"),     # structured_outputs: ignored, free text
    ("vllm", "0.9.2", "vllm"),            # structured_outputs before 0.10.2: ignored
    ("llama-server", "", "vllm"),
])
def test_a_server_that_ignores_the_schema_stops_the_job(dialect: str, version: str,
                                                        server: str) -> None:
    async def go() -> tuple[list[LLMResult], int]:
        async with _fake(dialect=dialect, server_version=version or "0.11.0") as fake:
            _, results, _ = await _drive(fake.url, n=30, concurrency=2, server=server)
            return results, fake.stats()["requests_total"]

    results, sent = asyncio.run(go())
    fatal = [r for r in results if r.error_kind == "fatal"]
    assert len(fatal) == 1 and results[-1] is fatal[0]
    message = fatal[0].error or ""
    assert "ignores the output schema: its first 5 answers are not JSON" in message
    assert "pass --server" in message and "\n" not in message
    assert not [r for r in results if r.ok], "free-text answers were passed on as rows"
    assert sent <= 7  # 5 answers, and at most one more in flight per worker


def test_a_500_refusing_the_response_format_is_fatal_at_once() -> None:
    """llama-cpp-python answers json_schema with HTTP 500 "Input should be 'text' or
    'json_object'": fatal with the hint, not retried as a transient 500."""
    async def go() -> tuple[list[LLMResult], int]:
        async with _fake(dialect="llama-cpp-python") as fake:
            _, results, _ = await _drive(fake.url, n=1, concurrency=1, server="openai",
                                         max_retries=4)
            return results, fake.stats()["requests_total"]

    [result], sent = asyncio.run(go())
    assert result.error_kind == "fatal" and sent == 1 and result.sends == 1
    assert "Input should be 'text' or 'json_object'" in (result.error or "")
    assert "pass --server llamacpp-server" in (result.error or "")
    assert "\n" not in (result.error or ""), "the server's multi-line message is one line"


def test_the_strict_schema_is_accepted_by_a_strict_openai() -> None:
    """The fake OpenAI rejects strict schemas with undocumented keywords, as the real one does;
    ItemMetadata-like schemas (a field called `properties`) go through strict."""
    async def go() -> None:
        async with _fake(dialect="openai") as fake:
            backend, results, _ = await _drive(fake.url)
            body = fake.bodies()[-1]
        assert backend.dialect == "openai" and all(r.ok for r in results)
        assert body["response_format"]["json_schema"]["strict"] is True
        assert "max_completion_tokens" in body and "max_tokens" not in body

    asyncio.run(go())


def test_reasoning_models_get_no_sampling_parameters_they_refuse() -> None:
    async def go() -> None:
        async with _fake(dialect="openai", models=["o3-mini"]) as fake:
            _, results, warnings = await _drive(fake.url, model="o3-mini", params={
                "temperature": 0.0, "top_p": 0.9, "max_tokens": 40, "seed": 7})
            body = fake.bodies()[-1]
        assert all(r.ok for r in results), [r.error for r in results]
        assert body["max_completion_tokens"] == 40 and body["seed"] == 7
        assert not {"temperature", "top_p", "max_tokens"} & set(body)
        assert warnings == ["warning: model `o3-mini` is a reasoning model: not sending "
                            "temperature, top_p (it refuses them)"]

    asyncio.run(go())


@pytest.mark.parametrize(("status", "body", "words"), [
    (429, {"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota",
                     "code": "insufficient_quota"}}, "no quota left"),
    (400, {"error": {"message": "Unsupported parameter: 'stop' is not supported with this "
                                "model."}}, "refuses a parameter of the job"),
    (401, {"error": {"message": "Incorrect API key provided"}}, "rejected the API key"),
])
def test_errors_no_retry_can_fix_are_fatal_at_once(status: int, body: Any, words: str) -> None:
    async def go() -> tuple[list[LLMResult], int]:
        async with ScriptedServer(lambda n, b: Reply(body, status)) as server:
            _, results, _ = await _drive(server.url, n=1, concurrency=1, server="openai",
                                         max_retries=3)
            return results, len(server.bodies)

    [result], sent = asyncio.run(go())
    assert result.error_kind == "fatal" and sent == 1
    assert words in (result.error or "") and body["error"]["message"] in (result.error or "")


def test_a_schema_the_server_refuses_is_fatal_and_blames_the_schema() -> None:
    message = "Invalid schema for response_format 'Labels': In context=(), 'default' is not " \
              "permitted."

    async def go() -> LLMResult:
        reply = Reply({"error": {"message": message, "type": "invalid_request_error"}}, 400)
        async with ScriptedServer(lambda n, b: reply, owned_by="system") as server:
            backend, [result], warnings = await _drive(server.url, n=1, concurrency=1)
        assert backend.dialect == "openai" and warnings == []
        return result

    result = asyncio.run(go())
    assert result.error_kind == "fatal" and message in (result.error or "")
    assert "OpenAI takes --server openai, so it refuses something in the output schema" in (
        result.error or "")


# -- 404s -----------------------------------------------------------------------------------------

def test_a_base_url_without_v1_says_so(project: Path) -> None:
    async def go() -> tuple[list[LLMResult], Exception | None]:
        async with _fake() as fake:
            _, results, _ = await _drive(fake.root_url, n=1, concurrency=1)
            job = load_job(write_job(project, BASIC_JOB.replace(
                "backend: {kind: llamacpp, model: smollm2-135m}",
                "backend: {kind: openai, model: test-model}")), {"backend.base_url":
                                                                  fake.root_url})
            with Store(project / "e.duckdb") as store:
                plan = RunPlan.build(job, store)
                try:
                    await Runner(plan, store, OpenAICompatibleBackend(job.backend, 1)).run()
                except BackendError as exc:
                    error: Exception | None = exc
                else:
                    error = None
                runs = store.sql("SELECT count(*) FROM runs").fetchone()[0]
            assert runs == 0, "a run that stored nothing is removed again"
            return results, error

    [result], error = asyncio.run(go())
    assert result.error_kind == "fatal"
    assert "/chat/completions not found (HTTP 404" in (result.error or "")
    assert "does the base URL end in /v1?" in (result.error or "")
    assert error is not None and "does the base URL end in /v1?" in str(error)


def test_an_unknown_model_at_request_time_names_the_model() -> None:
    async def go() -> LLMResult:
        reply = Reply({"error": {"message": "The model `ghost` does not exist."}}, 404)
        async with ScriptedServer(lambda n, b: reply, models=()) as server:
            _, [result], _ = await _drive(server.url, n=1, model="ghost", server="vllm")
        return result

    result = asyncio.run(go())
    assert result.error_kind == "fatal" and "model `ghost` is not served" in (result.error or "")


# -- Retry-After and stopping -------------------------------------------------------------------

@pytest.mark.parametrize("retry_after", ["100000", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_retry_after_is_capped_and_shown_while_waiting(retry_after: str) -> None:
    notes: list[str | None] = []

    async def go() -> LLMResult:
        reply = Reply({"error": {"message": "slow down"}}, 429, headers={
            "Retry-After": retry_after})
        async with ScriptedServer(lambda n, b: reply) as server:
            backend = OpenAICompatibleBackend(BackendSpec(
                kind="openai", base_url=server.url, model="test-model", server="vllm",
                max_retries=1, max_retry_after_s=0.6), 1)
            await backend.start()

            async def watch() -> None:
                while True:
                    notes.append(backend.status_note)
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            try:
                [result] = [r async for r in backend.generate(_requests(1))]
            finally:
                watcher.cancel()
                await backend.close()
            notes.append(backend.status_note)
            return result

    started = time.perf_counter()
    result = asyncio.run(go())
    assert result.error_kind == "rate_limited" and result.sends == 2
    assert 0.6 <= time.perf_counter() - started < 5
    assert "waiting 0.6 s (server asked Retry-After)" in notes and notes[-1] is None


def test_nothing_is_sent_after_the_runner_stops_listening() -> None:
    async def go() -> tuple[int, int]:
        async with _fake(latency_ms=150) as fake:
            backend = OpenAICompatibleBackend(BackendSpec(
                kind="openai", base_url=fake.url, model="test-model", server="vllm"), 2)
            await backend.start()
            async for _ in backend.generate(_requests(40)):
                break  # the runner stops on a fatal result this way, without aclose()
            await backend.close()
            at_close = fake.stats()["requests_total"]
            await asyncio.sleep(0.5)
            return at_close, fake.stats()["requests_total"]

    at_close, later = asyncio.run(go())
    assert later == at_close and at_close <= 6
