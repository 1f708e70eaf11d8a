"""Structured output: map an output JSON Schema to what each kind of server accepts.

- vLLM >= 0.12: ``structured_outputs={"json": schema}`` (sent as a top-level body field,
  which is where the ``openai`` SDK's ``extra_body`` puts it);
- vLLM before 0.12: ``guided_json=schema``;
- OpenAI: ``response_format={"type": "json_schema", "json_schema": {...}}``;
- llama.cpp's server: ``response_format={"type": "json_object", "schema": schema}`` (it
  rejects ``json_schema``);
- in-process llama.cpp builds a grammar from the schema (see ``llamacpp.py``).

Outputs are validated with pydantic afterwards whatever the server promised.
"""

from typing import Any


def _openai_strict_ok(schema: Any) -> bool:
    """OpenAI's strict mode needs every object closed and every property required."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties", {})
            if schema.get("additionalProperties", True) is not False:
                return False
            if set(schema.get("required", [])) != set(props):
                return False
        return all(_openai_strict_ok(v) for v in schema.values())
    if isinstance(schema, list):
        return all(_openai_strict_ok(v) for v in schema)
    return True


def structured_output_fields(dialect: str, schema: dict[str, Any] | None,
                             name: str = "output") -> dict[str, Any]:
    """Body fields that ask ``dialect``'s server for JSON matching ``schema``.

    Args:
        dialect: "vllm", "vllm-legacy", "openai", "llamacpp-server" or "none".
        schema: the JSON Schema, or None for free text.
        name: schema name (OpenAI requires one; letters, digits, _ and -).

    Returns:
        A dict to merge into the chat-completions request body.
    """
    if schema is None or dialect == "none":
        return {}
    if dialect == "vllm":
        return {"structured_outputs": {"json": schema}}
    if dialect == "vllm-legacy":
        return {"guided_json": schema}
    if dialect == "openai":
        safe_name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": safe_name or "output", "schema": schema,
            "strict": _openai_strict_ok(schema)}}}
    if dialect == "llamacpp-server":
        return {"response_format": {"type": "json_object", "schema": schema}}
    raise ValueError(f"unknown structured-output dialect {dialect!r}")
