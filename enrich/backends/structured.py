"""Structured output: map an output JSON Schema to what each kind of server accepts.

- ``vllm`` (vLLM >= 0.10.2): ``structured_outputs={"json": schema}`` (a top-level body field,
  which is where the ``openai`` SDK's ``extra_body`` puts it);
- ``vllm-legacy`` (older vLLM): ``response_format`` json_schema with the full schema. Not
  ``guided_json``: vLLM deprecated it in 0.11 and removed it in 0.12, and vLLM ignores fields it
  does not know, so a ``guided_json`` request to a newer server gets unconstrained text with
  HTTP 200; ``response_format`` json_schema works on every vLLM version;
- ``openai``: ``response_format`` json_schema, strict with OpenAI's documented keyword subset
  when the schema allows it (see ``openai_schema.py``);
- ``llamacpp-server``: ``response_format={"type": "json_object", "schema": schema}``, the only
  form llama-cpp-python's server accepts (it answers json_schema with HTTP 500); llama.cpp's C++
  ``llama-server`` accepts it too;
- in-process llama.cpp builds a grammar from the schema (see ``llamacpp.py``).

Outputs are validated with pydantic afterwards whatever the server promised.
"""

from typing import Any

from enrich.backends.openai_schema import openai_response_format


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
        safe_name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": safe_name or "output", "schema": schema}}}
    if dialect == "openai":
        return {"response_format": openai_response_format(schema, name)}
    if dialect == "llamacpp-server":
        return {"response_format": {"type": "json_object", "schema": schema}}
    raise ValueError(f"unknown structured-output dialect {dialect!r}")


def body_field_name(dialect: str) -> str:
    """The request field a dialect puts the schema in (for messages)."""
    return {"vllm": "structured_outputs", "vllm-legacy": "response_format json_schema",
            "openai": "response_format json_schema",
            "llamacpp-server": "response_format json_object"}.get(dialect, "no schema")
