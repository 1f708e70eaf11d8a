"""How real OpenAI-compatible servers differ, so the fake server can behave like each of them.

``FakeServerConfig.dialect`` picks one; ``"any"`` (the default) understands every way of sending
a schema, as before. Each behaviour below was read from the real server's source or measured:

- ``vllm`` (``vllm serve``; ``server_version``, default 0.11.0): ``/v1/models`` entries have
  ``owned_by: "vllm"``; ``GET /version`` answers ``{"version": ...}``. It understands
  ``structured_outputs`` from 0.10.2 on, ``guided_json`` before 0.12, ``response_format``
  json_schema and json_object always; any other body field is ignored, so the answer is free
  text (HTTP 200).
- ``llama-cpp-python`` (``python -m llama_cpp.server``, 0.3.x): ``owned_by: "me"``; no
  ``/version`` or ``/props``. ``response_format.type`` must be ``text`` or ``json_object`` (with
  an optional ``schema``); anything else is a pydantic validation error that its
  ``RouteErrorHandler`` turns into HTTP 500 ``internal_server_error`` "Input should be 'text' or
  'json_object'". ``structured_outputs`` / ``guided_json`` are ignored (free text).
- ``llama-server`` (llama.cpp's C++ server): ``owned_by: "llamacpp"``; ``GET /props``.
  ``response_format`` json_object (+ ``schema``) and json_schema, and a top-level
  ``json_schema``, are honoured; ``structured_outputs`` / ``guided_json`` are ignored.
- ``openai``: ``owned_by: "system"``. Unknown body fields are rejected (400 "Unrecognized request
  argument supplied: ..."); a strict json_schema must use only the documented keywords, close
  every object and require every property (400 "Invalid schema for response_format ..."); the
  reasoning models (o1/o3/o4, gpt-5) refuse ``max_tokens`` and a non-default ``temperature``.
"""

import re
from typing import Any, Literal

DialectName = Literal["any", "vllm", "llama-cpp-python", "llama-server", "openai"]
_OWNER = {"any": "enrich-fake-server", "vllm": "vllm", "llama-cpp-python": "me",
          "llama-server": "llamacpp", "openai": "system"}
_SCHEMA_FIELDS = ("structured_outputs", "guided_json", "response_format", "json_schema")
_OPENAI_ARGUMENTS = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed",
    "logprobs", "top_logprobs", "stop", "n", "response_format", "presence_penalty",
    "frequency_penalty", "logit_bias", "user", "stream", "stream_options", "tools",
    "tool_choice", "parallel_tool_calls", "reasoning_effort", "service_tier", "store",
    "metadata", "modalities", "prediction", "audio", "verbosity"})
# https://platform.openai.com/docs/guides/structured-outputs#supported-schemas
_OPENAI_STRICT_KEYWORDS = frozenset({
    "type", "enum", "description", "title", "anyOf", "$ref", "$defs", "properties", "required",
    "additionalProperties", "items", "minItems", "maxItems", "pattern", "format", "multipleOf",
    "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"})
_REASONING = re.compile(r"(?:^|[/:])(?:o\d+|gpt-5)(?:[-.:]|$)")


class DialectRejection(Exception):
    """The real server would answer this request with an error."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


def model_owner(dialect: str) -> str:
    """``owned_by`` of the ``/v1/models`` entries."""
    return _OWNER[dialect]


def extra_routes(dialect: str, server_version: str) -> dict[str, Any]:
    """GET paths (at the server root) the dialect serves, with their JSON bodies."""
    if dialect == "vllm":
        return {"/version": {"version": server_version}}
    if dialect == "llama-server":
        return {"/props": {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1,
                           "model_path": "fake.gguf", "build_info": "b0-fake"}}
    return {}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def screen_request(dialect: str, body: dict[str, Any], server_version: str) -> dict[str, Any]:
    """The body as the real server sees it: fields it ignores are removed.

    Raises:
        DialectRejection: the real server answers this body with an error.
    """
    if dialect == "any":
        return body
    if dialect == "openai":
        _screen_openai(body)
        return body
    understood = {"response_format"}
    if dialect == "vllm":
        version = _version(server_version)
        if version >= (0, 10, 2):
            understood.add("structured_outputs")
        if version < (0, 12):
            understood.add("guided_json")
    if dialect == "llama-server":
        understood.add("json_schema")
    if dialect == "llama-cpp-python":
        _screen_llama_cpp_python(body)
    return {key: value for key, value in body.items()
            if key not in _SCHEMA_FIELDS or key in understood}


def _screen_llama_cpp_python(body: dict[str, Any]) -> None:
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if response_format is not None and kind not in ("text", "json_object"):
        detail = {"type": "literal_error", "loc": ("body", "response_format", "type"),
                  "msg": "Input should be 'text' or 'json_object'", "input": kind,
                  "ctx": {"expected": "'text' or 'json_object'"}}
        # measured against 0.3.36: the message is the validation error's text and the start of
        # a traceback, over several lines
        raise DialectRejection(500, f"1 validation error:\n  {detail}\n\n  File "
                               '"llama_cpp/server/errors.py", line 173, in custom_route_handler',
                               "internal_server_error")


def _screen_openai(body: dict[str, Any]) -> None:
    unknown = sorted(set(body) - _OPENAI_ARGUMENTS)
    if unknown:
        raise DialectRejection(400, f"Unrecognized request argument supplied: {unknown[0]}",
                               "invalid_request_error")
    model = str(body.get("model", ""))
    if _REASONING.search(model.lower()) and "-chat" not in model.lower():
        if "max_tokens" in body:
            raise DialectRejection(400, "Unsupported parameter: 'max_tokens' is not supported "
                                   "with this model. Use 'max_completion_tokens' instead.",
                                   "invalid_request_error")
        for name in ("temperature", "top_p"):
            if name in body and body[name] != 1:
                raise DialectRejection(400, f"Unsupported value: '{name}' does not support "
                                       f"{body[name]} with this model. Only the default (1) "
                                       "value is supported.", "invalid_request_error")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        if spec.get("strict"):
            problem = strict_schema_problem(spec.get("schema"), ())
            if problem:
                raise DialectRejection(400, f"Invalid schema for response_format "
                                       f"'{spec.get('name')}': {problem}",
                                       "invalid_request_error")


def strict_schema_problem(schema: Any, where: tuple[str, ...]) -> str | None:
    """What OpenAI's strict mode would reject in ``schema`` (walking the schema grammar)."""
    if not isinstance(schema, dict):
        return f"In context={where}, schema must be a JSON Schema of 'type: \"object\"'."
    for keyword in schema:
        if keyword not in _OPENAI_STRICT_KEYWORDS:
            return f"In context={where}, '{keyword}' is not permitted."
    properties = schema.get("properties")
    if schema.get("type") == "object" or properties is not None:
        if schema.get("additionalProperties") is not False:
            return (f"In context={where}, 'additionalProperties' is required to be supplied "
                    "and to be false.")
        missing = sorted(set(properties or {}) - set(schema.get("required") or []))
        if missing:
            return (f"In context={where}, 'required' is required to be supplied and to be an "
                    f"array including every key in properties. Missing '{missing[0]}'.")
    children: list[tuple[tuple[str, ...], Any]] = [
        ((*where, "properties", name), sub) for name, sub in (properties or {}).items()]
    children += [((*where, "$defs", name), sub) for name, sub in
                 (schema.get("$defs") or {}).items()]
    children += [((*where, "anyOf", str(i)), sub) for i, sub in
                 enumerate(schema.get("anyOf") or [])]
    if isinstance(schema.get("items"), dict):
        children.append(((*where, "items"), schema["items"]))
    for path, sub in children:
        problem = strict_schema_problem(sub, path)
        if problem:
            return problem
    return None
