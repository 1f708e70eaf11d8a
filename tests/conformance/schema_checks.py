"""What a structured-output request must carry, per dialect, checked on the fake server's bodies.

Written from the servers' documentation, not from ``enrich/backends`` (a check that reuses the
code under test proves nothing):

- ``vllm``: ``structured_outputs={"json": SCHEMA}`` (vLLM >= 0.10.2, ``StructuredOutputsParams``);
- ``llamacpp-server``: ``response_format={"type": "json_object", "schema": SCHEMA}`` (the only
  form ``llama_cpp.server`` accepts: its ``ChatCompletionRequestResponseFormat`` is ``text`` or
  ``json_object`` with an optional ``schema``);
- ``openai``: ``response_format={"type": "json_schema", "json_schema": {"name", "schema",
  "strict": true}}`` where the schema stays inside the subset OpenAI documents for strict mode
  (platform.openai.com/docs/guides/structured-outputs, "Supported schemas"): the keywords below,
  every object closed (``additionalProperties: false``) with every property required.
"""

import re
from typing import Any

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OPENAI_STRICT_KEYWORDS = frozenset({
    "type", "enum", "const", "description", "title", "anyOf", "$ref", "$defs", "definitions",
    "properties", "required", "additionalProperties", "items",
    "pattern", "format",
    "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "minItems", "maxItems",
})


def openai_strict_problems(schema: Any, where: str = "#") -> list[str]:
    """Why ``schema`` is outside OpenAI's strict subset (empty list: it is inside).

    Args:
        schema: a JSON Schema node.
        where: its JSON pointer, for the messages.

    Returns:
        One message per problem, e.g. ``"#/properties/reason: keyword maxLength"``.
    """
    if not isinstance(schema, dict):
        return []
    problems = [f"{where}: keyword {k}" for k in schema if k not in OPENAI_STRICT_KEYWORDS]
    types = schema.get("type")
    is_object = types == "object" or "properties" in schema
    if is_object:
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            problems.append(f"{where}: object without additionalProperties: false")
        if set(schema.get("required") or []) != set(properties):
            problems.append(f"{where}: not every property is required")
        for name, sub in properties.items():
            problems += openai_strict_problems(sub, f"{where}/properties/{name}")
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            problems += openai_strict_problems(sub, f"{where}/{key}/{name}")
    if isinstance(schema.get("items"), dict):
        problems += openai_strict_problems(schema["items"], f"{where}/items")
    for i, sub in enumerate(schema.get("anyOf") or []):
        problems += openai_strict_problems(sub, f"{where}/anyOf/{i}")
    return problems


def sent_schema(body: dict[str, Any], dialect: str) -> tuple[Any, list[str]]:
    """(the schema ``body`` carries in ``dialect``'s field, problems with the request's form)."""
    if dialect == "vllm":
        structured = body.get("structured_outputs")
        if not isinstance(structured, dict) or "json" not in structured:
            return None, [f"no structured_outputs.json (fields: {sorted(body)})"]
        return structured["json"], []
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None, [f"no response_format (fields: {sorted(body)})"]
    if dialect == "llamacpp-server":
        if response_format.get("type") != "json_object" or "schema" not in response_format:
            return None, [f"response_format is {response_format.get('type')!r}, not json_object "
                          "with a schema"]
        return response_format["schema"], []
    spec = response_format.get("json_schema") or {}
    problems = []
    if response_format.get("type") != "json_schema":
        problems.append(f"response_format type {response_format.get('type')!r}")
    if not NAME_PATTERN.match(str(spec.get("name", ""))):
        problems.append(f"json_schema.name {spec.get('name')!r} is not [A-Za-z0-9_-]{{1,64}}")
    if spec.get("strict") is not True:
        problems.append("json_schema.strict is not true")
    schema = spec.get("schema")
    return schema, problems + openai_strict_problems(schema)


def same_shape(sent: Any, expected: dict[str, Any]) -> bool:
    """Whether ``sent`` has the root properties and required list of ``expected``."""
    return (isinstance(sent, dict)
            and set(sent.get("properties") or {}) == set(expected.get("properties") or {})
            and set(expected.get("required") or []) <= set(sent.get("required") or []))
