"""Tests for the fault-injecting fake OpenAI-compatible server and the schema instance generator."""

import asyncio
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import aiohttp
import jsonschema
import orjson
import pytest
from pydantic import BaseModel, Field, ValidationError

from enrich.testing.fake_server import (
    AsyncFakeServer,
    FakeServer,
    FakeServerConfig,
    FaultRates,
    main,
)
from enrich.testing.schema_instances import (
    SchemaInstanceError,
    SchemaInstanceGenerator,
    valid_instance,
    wrong_shape_instance,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


class Attribute(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    value: str | None = Field(default=None, max_length=12)


class ItemMetadata(BaseModel):
    title: str = Field(min_length=5, max_length=60)
    category: Literal["tools", "garden", "kitchen"]
    price: float | None = Field(default=None, ge=0, lt=1000)
    rating: int = Field(ge=1, le=5)
    keywords: list[str] = Field(min_length=1, max_length=4)
    attributes: list[Attribute] = Field(default_factory=list, max_length=3)
    parent: "ItemMetadata | None" = None


LABEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["yes", "no"]},
        "reason": {"type": "string", "maxLength": 40},
    },
    "required": ["label", "reason"],
    "additionalProperties": False,
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "pydantic_defs_recursive": ItemMetadata.model_json_schema(),
    "label": LABEL_SCHEMA,
    "bounds_and_nullable": {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "null"], "minLength": 3, "maxLength": 3},
            "b": {"type": "integer", "exclusiveMinimum": 5, "maximum": 7, "multipleOf": 2},
            "c": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "d": {"const": "fixed"},
            "e": {"enum": [1, "x", None]},
            "f": {"type": "string", "minLength": 0, "maxLength": 0},
            "g": {"type": "string", "minLength": 300},
        },
        "required": ["a", "b", "c", "d", "e", "f", "g"],
        "additionalProperties": False,
    },
    "any_one_all_of": {
        "type": "object",
        "properties": {
            "choice": {
                "anyOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "null"}}]
            },
            "exclusive": {"oneOf": [{"type": "string", "format": "date"}, {"type": "integer"}]},
            "merged": {"allOf": [
                {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
                {"properties": {"y": {"type": "number", "minimum": -2, "maximum": -1}},
                 "required": ["y"]},
            ]},
        },
        "required": ["choice", "exclusive", "merged"],
    },
    "arrays": {
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "boolean"}],
        "items": {"$ref": "#/definitions/tag"},
        "minItems": 3,
        "maxItems": 6,
        "definitions": {"tag": {"enum": ["a", "b", "c"]}},
    },
    "unique_enum_items": {
        "type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True, "minItems": 3,
    },
    "draft4_exclusive": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "number", "minimum": 1, "exclusiveMinimum": True, "maximum": 2,
        "exclusiveMaximum": True,
    },
}


def validator_for(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    return jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)(schema)


def chat_body(schema_part: dict[str, Any] | None = None, text: str = "hello", **extra: Any) -> dict:
    body: dict[str, Any] = {"model": "test-model", "messages": [{"role": "user", "content": text}]}
    return {**body, **(schema_part or {}), **extra}


async def post_chat(
    session: aiohttp.ClientSession, server: AsyncFakeServer, body: dict[str, Any], **kwargs: Any
) -> tuple[int, dict[str, Any], Any]:
    async with session.post(f"{server.url}/chat/completions", json=body, **kwargs) as response:
        return response.status, orjson.loads(await response.read()), response.headers


# -- schema instances -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_generated_instances_validate_and_wrong_shapes_fail(name: str) -> None:
    schema = SCHEMAS[name]
    validator = validator_for(schema)
    generator = SchemaInstanceGenerator(schema)
    instances = [generator.valid_instance(seed) for seed in range(60)]
    for instance in instances:
        errors = [error.message for error in validator.iter_errors(instance)]
        assert errors == [], (instance, errors)
    for seed in range(20):
        assert not validator.is_valid(generator.wrong_shape_instance(seed))
    assert len({orjson.dumps(instance) for instance in instances}) > 1


def test_instances_are_deterministic_per_seed() -> None:
    schema = SCHEMAS["pydantic_defs_recursive"]
    assert valid_instance(schema, seed="key-1") == valid_instance(schema, seed="key-1")
    assert valid_instance(schema, 3) == SchemaInstanceGenerator(schema).valid_instance(3)
    assert wrong_shape_instance(schema, 5) == wrong_shape_instance(schema, 5)
    assert {orjson.dumps(valid_instance(schema, seed)) for seed in range(10)} != {
        orjson.dumps(valid_instance(schema, 0))}


def test_wrong_shape_drops_a_required_property() -> None:
    instance = wrong_shape_instance(LABEL_SCHEMA, seed=1)
    assert isinstance(instance, dict)
    assert set(LABEL_SCHEMA["required"]) - set(instance)


def test_unsatisfiable_requests_raise_schema_instance_error() -> None:
    with pytest.raises(SchemaInstanceError):
        wrong_shape_instance({})
    with pytest.raises(SchemaInstanceError):
        valid_instance({"$ref": "https://example.com/remote.json"})
    with pytest.raises(SchemaInstanceError):
        valid_instance({"type": "integer", "minimum": 3, "maximum": 2})


def test_label_enum_finds_the_first_string_enum() -> None:
    assert SchemaInstanceGenerator(LABEL_SCHEMA).label_enum() == ("label", ["yes", "no"])
    assert SchemaInstanceGenerator({"enum": ["a", "b"]}).label_enum() == (None, ["a", "b"])
    assert SchemaInstanceGenerator({"type": "integer"}).label_enum() is None


# -- configuration ------------------------------------------------------------------------------


def test_config_rejects_unknown_fields_and_rates_over_one() -> None:
    with pytest.raises(ValidationError):
        FakeServerConfig(latency=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        FaultRates(http_500=0.7, hang=0.4)
    assert FaultRates(http_500=0.25, hang=0.5).cumulative() == [(0.25, "http_500"), (0.75, "hang")]


# -- the server ---------------------------------------------------------------------------------

TRANSPORTS: dict[str, dict[str, Any]] = {
    "structured_outputs": {"structured_outputs": {"json": LABEL_SCHEMA}},
    "guided_json": {"guided_json": LABEL_SCHEMA},
    "openai_json_schema": {"response_format": {
        "type": "json_schema",
        "json_schema": {"name": "label", "schema": LABEL_SCHEMA, "strict": True},
    }},
    "llamacpp_json_object": {"response_format": {"type": "json_object", "schema": LABEL_SCHEMA}},
}


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
async def test_each_schema_transport_yields_schema_valid_content(transport: str) -> None:
    async with AsyncFakeServer() as server, aiohttp.ClientSession() as session:
        status, payload, _ = await post_chat(
            session, server, chat_body(TRANSPORTS[transport], text="Is a drill a tool?"))
    assert status == 200
    assert payload["object"] == "chat.completion"
    assert payload["model"] == "test-model"
    assert isinstance(payload["id"], str) and isinstance(payload["created"], int)
    choice = payload["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    jsonschema.validate(orjson.loads(choice["message"]["content"]), LABEL_SCHEMA)
    usage = payload["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_plain_text_without_schema_and_same_request_same_answer() -> None:
    async with AsyncFakeServer() as server, aiohttp.ClientSession() as session:
        _, first, _ = await post_chat(session, server, chat_body())
        _, again, _ = await post_chat(session, server, chat_body())
        _, other, _ = await post_chat(session, server, chat_body(), headers={"X-Enrich-Key": "k2"})
        stats = server.stats()
    content = first["choices"][0]["message"]["content"]
    assert content and not content.startswith("{")
    assert again["choices"][0]["message"]["content"] == content
    assert other["choices"][0]["message"]["content"] != content
    assert stats["requests_total"] == 3
    assert stats["per_key"]["k2"] == 1
    assert sorted(stats["per_key"].values()) == [1, 2]


async def test_logprobs_are_well_formed_with_label_alternatives() -> None:
    body = chat_body(TRANSPORTS["structured_outputs"], logprobs=True, top_logprobs=3)
    async with AsyncFakeServer() as server, aiohttp.ClientSession() as session:
        _, payload, _ = await post_chat(session, server, body)
        _, plain, _ = await post_chat(session, server, chat_body(TRANSPORTS["guided_json"]))
    assert plain["choices"][0]["logprobs"] is None
    choice = payload["choices"][0]
    entries = choice["logprobs"]["content"]
    assert "".join(entry["token"] for entry in entries) == choice["message"]["content"]
    for entry in entries:
        assert entry["bytes"] == list(entry["token"].encode())
        top = entry["top_logprobs"]
        assert len(top) == 3
        assert top[0]["token"] == entry["token"] and top[0]["logprob"] == entry["logprob"]
        assert all(other["logprob"] < entry["logprob"] for other in top[1:])
        assert len({other["token"] for other in top}) == 3
        assert sum(math.exp(other["logprob"]) for other in top) <= 1.0
    label = orjson.loads(choice["message"]["content"])["label"]
    label_entry = next(entry for entry in entries if entry["token"] == label)
    other_label = "no" if label == "yes" else "yes"
    assert label_entry["top_logprobs"][1]["token"] == other_label


async def test_unknown_model_is_404_and_models_are_listed() -> None:
    config = FakeServerConfig(models=["m1", "m2"])
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        status, payload, _ = await post_chat(session, server, {**chat_body(), "model": "gpt-x"})
        async with session.get(f"{server.url}/models") as response:
            models = await response.json()
    assert status == 404
    assert payload == {"error": {"message": "The model `gpt-x` does not exist.",
                                 "type": "NotFoundError", "code": 404}}
    assert models["object"] == "list"
    assert [model["id"] for model in models["data"]] == ["m1", "m2"]
    assert all(model["object"] == "model" for model in models["data"])


async def test_api_key_is_required_when_configured() -> None:
    config = FakeServerConfig(api_key="secret")
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        missing, missing_body, _ = await post_chat(session, server, chat_body())
        wrong, _, _ = await post_chat(
            session, server, chat_body(), headers={"Authorization": "Bearer nope"})
        right, _, _ = await post_chat(
            session, server, chat_body(), headers={"Authorization": "Bearer secret"})
    assert (missing, wrong, right) == (401, 401, 200)
    assert missing_body["error"]["code"] == 401
    assert missing_body["error"]["type"] == "AuthenticationError"


async def test_bad_request_bodies_get_400() -> None:
    async with AsyncFakeServer() as server, aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/chat/completions", data=b"{nope") as response:
            assert response.status == 400
            assert "error" in await response.json()
        status, _, _ = await post_chat(session, server, {"model": "test-model"})
        bad_n, _, _ = await post_chat(session, server, chat_body(n="two"))
        bad_schema, _, _ = await post_chat(session, server, chat_body(guided_json={"$ref": "x"}))
    assert (status, bad_n, bad_schema) == (400, 400, 400)


def test_threaded_server_reports_a_busy_port() -> None:
    with FakeServer() as server, pytest.raises(OSError):
        FakeServer(port=server.port).start()


@pytest.mark.parametrize(("fault", "status"), [("http_500", 500), ("http_503", 503),
                                               ("http_429", 429)])
async def test_http_error_faults(fault: str, status: int) -> None:
    config = FakeServerConfig(faults=FaultRates(**{fault: 1.0}), retry_after_s=0.05)
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        got, payload, headers = await post_chat(session, server, chat_body())
        stats = server.stats()
    assert got == status
    assert payload["error"]["code"] == status
    assert headers.get("Retry-After") == ("0.05" if status == 429 else None)
    assert stats["faults"] == {fault: 1}


@pytest.mark.parametrize("fault", ["truncated_json", "invalid_json", "empty_content",
                                   "wrong_shape"])
async def test_content_faults(fault: str) -> None:
    config = FakeServerConfig(faults=FaultRates(**{fault: 1.0}))
    body = chat_body(TRANSPORTS["openai_json_schema"])
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        status, payload, _ = await post_chat(session, server, body)
    assert status == 200
    content = payload["choices"][0]["message"]["content"]
    if fault == "empty_content":
        assert content == ""
    elif fault == "wrong_shape":
        assert not validator_for(LABEL_SCHEMA).is_valid(orjson.loads(content))
    else:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(content)
    if fault == "truncated_json":
        assert payload["choices"][0]["finish_reason"] == "length"


async def test_connection_reset_fault_raises_client_error() -> None:
    config = FakeServerConfig(faults=FaultRates(connection_reset=1.0))
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            await post_chat(session, server, chat_body())
        assert server.stats()["faults"] == {"connection_reset": 1}


async def test_hang_fault_outlasts_a_short_client_timeout() -> None:
    config = FakeServerConfig(faults=FaultRates(hang=1.0), hang_s=5.0)
    started = time.perf_counter()
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            await post_chat(session, server, chat_body(),
                            timeout=aiohttp.ClientTimeout(total=0.2))
    assert time.perf_counter() - started < 2.0  # shutdown does not wait for the hang


async def test_hang_fault_answers_after_hang_s() -> None:
    config = FakeServerConfig(faults=FaultRates(hang=1.0), hang_s=0.15)
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        started = time.perf_counter()
        status, _, _ = await post_chat(session, server, chat_body())
    assert status == 200 and time.perf_counter() - started >= 0.14


async def test_fail_first_n_then_success_and_reset() -> None:
    config = FakeServerConfig(fail_first_n=2)
    headers = {"X-Enrich-Key": "row-7"}
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        statuses = [(await post_chat(session, server, chat_body(), headers=headers))[0]
                    for _ in range(3)]
        async with session.get(f"{server.root_url}/stats") as response:
            stats = await response.json()
        async with session.post(f"{server.root_url}/reset") as response:
            assert response.status == 200
        after_reset = server.stats()
        status_after_reset, _, _ = await post_chat(session, server, chat_body(), headers=headers)
    assert statuses == [500, 500, 200]
    assert stats == {"requests_total": 3, "per_key": {"row-7": 3},
                     "faults": {"fail_first_n": 2}, "in_flight": 0}
    assert after_reset == {"requests_total": 0, "per_key": {}, "faults": {}, "in_flight": 0}
    assert status_after_reset == 500


async def test_fault_rates_are_deterministic_per_key_and_seed() -> None:
    config = FakeServerConfig(faults=FaultRates(http_500=0.3), seed=4)

    async def failing_keys() -> set[str]:
        async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
            failed = set()
            for index in range(100):
                headers = {"X-Enrich-Key": f"key-{index}"}
                if (await post_chat(session, server, chat_body(), headers=headers))[0] == 500:
                    failed.add(f"key-{index}")
            assert server.stats()["faults"] == {"http_500": len(failed)}
            return failed

    first, second = await failing_keys(), await failing_keys()
    assert first == second
    assert 15 <= len(first) <= 45


async def test_latency_max_tokens_and_n() -> None:
    config = FakeServerConfig(latency_ms=60)
    body = chat_body(TRANSPORTS["guided_json"], max_tokens=3, n=2)
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        started = time.perf_counter()
        _, payload, _ = await post_chat(session, server, body)
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.055
    assert [choice["index"] for choice in payload["choices"]] == [0, 1]
    assert all(choice["finish_reason"] == "length" for choice in payload["choices"])
    assert payload["usage"]["completion_tokens"] == 6


def test_threaded_server_stats_reset_and_recorded_bodies() -> None:
    async def send(url: str, count: int) -> list[int]:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for index in range(count):
                async with session.post(f"{url}/chat/completions",
                                        json=chat_body(text=f"row {index}")) as response:
                    statuses.append(response.status)
            return statuses

    with FakeServer(FakeServerConfig(record_bodies=2)) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/v1"
        assert asyncio.run(send(server.url, 3)) == [200, 200, 200]
        stats = server.stats()
        bodies = server.bodies()
        server.reset()
        assert server.stats()["requests_total"] == 0
        assert server.bodies() == []
    assert stats["requests_total"] == 3 and len(stats["per_key"]) == 3
    assert [body["messages"][0]["content"] for body in bodies] == ["row 1", "row 2"]


def test_package_import_does_not_import_aiohttp() -> None:
    code = ("import sys, enrich.testing, enrich.testing.schema_instances; "
            "assert 'aiohttp' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def test_cli_prints_ready_and_serves() -> None:
    command = [sys.executable, "-m", "enrich.testing.fake_server", "--port", "0",
               "--model", "cli-model", "--fault", "http_429=1.0", "--retry-after-s", "0.5"]

    async def probe(url: str) -> tuple[list[str], int, str | None]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/models") as response:
                models = [model["id"] for model in (await response.json())["data"]]
            body = {**chat_body(), "model": "cli-model"}
            async with session.post(f"{url}/chat/completions", json=body) as response:
                return models, response.status, response.headers.get("Retry-After")

    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}) as process:
        try:
            assert process.stdout is not None
            ready = process.stdout.readline().split()
            assert ready[0] == "READY" and ready[1].endswith("/v1")
            assert asyncio.run(probe(ready[1])) == (["cli-model"], 429, "0.5")
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0


def test_cli_rejects_bad_fault_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--fault", "meteor=0.5"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main(["--fault", "http_500=0.8", "--fault", "hang=0.8"])
    assert "at most 1" in capsys.readouterr().err
