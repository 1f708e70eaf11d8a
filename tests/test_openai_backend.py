"""The OpenAI-compatible HTTP backend against the in-repository fake server."""

import asyncio
from pathlib import Path

import pytest
from conftest import BASIC_JOB, write_job

from enrich.backends.base import LLMRequest, LLMResult
from enrich.backends.openai_http import OpenAICompatibleBackend
from enrich.errors import BackendError
from enrich.jobs import BackendSpec, load_job
from enrich.plan import RunPlan
from enrich.runner import Runner
from enrich.store import Store
from enrich.testing.fake_server import FakeServer, FakeServerConfig, FaultRates

SCHEMA = {"type": "object", "properties": {"labels": {"type": "array", "maxItems": 3,
          "items": {"type": "string", "maxLength": 20}}}, "required": ["labels"]}


def _send_all(spec: BackendSpec, n: int = 4, concurrency: int = 2,
              api_key: str | None = None) -> list[LLMResult]:
    async def go() -> list[LLMResult]:
        backend = OpenAICompatibleBackend(spec, concurrency, api_key)
        await backend.start()
        try:
            async def requests():
                for i in range(n):
                    yield LLMRequest(f"k{i}", str(i), [{"role": "user", "content": f"row {i}"}],
                                     {"temperature": 0.0, "max_tokens": 50}, SCHEMA, "Labels")
            return [r async for r in backend.generate(requests())]
        finally:
            await backend.close()

    return asyncio.run(go())


@pytest.mark.parametrize(("dialect", "field", "expected"), [
    ("vllm", "structured_outputs", {"json": SCHEMA}),
    ("vllm-legacy", "response_format", {"type": "json_schema", "json_schema": {
        "name": "Labels", "schema": SCHEMA}}),
    ("openai", "response_format", {"type": "json_schema", "json_schema": {
        "name": "Labels", "strict": True, "schema": {
            "type": "object", "required": ["labels"], "additionalProperties": False,
            "properties": {"labels": {"type": "array", "maxItems": 3, "items": {
                "type": "string", "description": "at most 20 characters"}}}}}}),
    ("llamacpp-server", "response_format", {"type": "json_object", "schema": SCHEMA}),
])
def test_structured_output_body_per_server_kind(dialect: str, field: str, expected: object
                                                ) -> None:
    with FakeServer(FakeServerConfig(record_bodies=10)) as server:
        spec = BackendSpec(kind="openai", base_url=server.url, model="test-model",
                           server=dialect)
        results = _send_all(spec, n=2)
        bodies = server.bodies()
    assert all(r.ok for r in results), [r.error for r in results]
    body = bodies[-1]
    assert body[field] == expected
    assert body["model"] == "test-model" and body["temperature"] == 0.0
    assert body["messages"][0]["role"] == "user"
    others = {"structured_outputs", "guided_json", "response_format"} - {field}
    assert not others & set(body)


def test_retries_429_and_500_then_succeeds_without_duplicates() -> None:
    config = FakeServerConfig(fail_first_n=2, retry_after_s=0.01)
    with FakeServer(config) as server:
        spec = BackendSpec(kind="openai", base_url=server.url, model="test-model",
                           max_retries=3)
        results = _send_all(spec, n=3)
        stats = server.stats()
    assert all(r.ok for r in results)
    assert [r.sends for r in results] == [3, 3, 3]
    assert stats["per_key"] == {"k0": 3, "k1": 3, "k2": 3}


def test_rate_limit_honours_retry_after() -> None:
    config = FakeServerConfig(faults=FaultRates(http_429=1.0), retry_after_s=0.2)
    with FakeServer(config) as server:
        spec = BackendSpec(kind="openai", base_url=server.url, model="test-model",
                           max_retries=1)
        [result] = _send_all(spec, n=1)
    assert result.error_kind == "rate_limited" and "429" in (result.error or "")
    assert result.latency_s >= 0.2


def test_hang_past_timeout_is_a_timeout_failure() -> None:
    config = FakeServerConfig(faults=FaultRates(hang=1.0), hang_s=5.0)
    with FakeServer(config) as server:
        spec = BackendSpec(kind="openai", base_url=server.url, model="test-model",
                           timeout_s=0.3, max_retries=1)
        [result] = _send_all(spec, n=1)
    assert result.error_kind == "timeout" and result.sends == 2


def test_connection_reset_is_retried_then_reported() -> None:
    config = FakeServerConfig(faults=FaultRates(connection_reset=1.0))
    with FakeServer(config) as server:
        spec = BackendSpec(kind="openai", base_url=server.url, model="test-model",
                           max_retries=1)
        [result] = _send_all(spec, n=1)
    assert result.error_kind == "connection"


def test_preflight_errors_name_the_fix() -> None:
    with FakeServer(FakeServerConfig(api_key="sekret")) as server:
        spec = BackendSpec(kind="openai", base_url=server.url, model="test-model")
        with pytest.raises(BackendError, match="rejected the API key"):
            _send_all(spec, api_key="wrong")
        unknown = BackendSpec(kind="openai", base_url=server.url, model="nope")
        with pytest.raises(BackendError, match=r"model `nope` is not served.*test-model"):
            _send_all(unknown, api_key="sekret")
    down = BackendSpec(kind="openai", base_url=server.url, model="test-model")
    with pytest.raises(BackendError, match="cannot reach the LLM server"):
        _send_all(down)


def test_job_over_http_stores_validated_rows_and_caches(project: Path) -> None:
    job_text = BASIC_JOB.replace("backend: {kind: llamacpp, model: smollm2-135m}",
                                 "backend: {kind: openai, model: test-model}\nconcurrency: 4")
    path = write_job(project, job_text)
    with FakeServer(FakeServerConfig(latency_ms=5)) as server:
        for expected_calls in (5, 0):
            job = load_job(path, {"backend.base_url": server.url})
            with Store(project / "enrich.duckdb") as store:
                plan = RunPlan.build(job, store)
                backend = OpenAICompatibleBackend(job.backend, job.concurrency)
                summary = asyncio.run(Runner(plan, store, backend).run())
            assert summary.counters.requests_sent == expected_calls
            assert summary.status == "finished" and summary.pending == 0
        assert server.stats()["requests_total"] == 5
