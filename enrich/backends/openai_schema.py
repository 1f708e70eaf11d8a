"""OpenAI strict structured outputs: turn an output JSON Schema into the subset OpenAI accepts.

With ``"strict": true`` OpenAI accepts only part of JSON Schema and rejects a request whose
schema uses anything else (HTTP 400 "... 'minLength' is not permitted"). Keywords kept here are
the ones OpenAI's guide documents under "Supported schemas"
(https://platform.openai.com/docs/guides/structured-outputs#supported-schemas, as quoted in
pydantic/pydantic-ai#2420, Aug 2025; the list grew in May 2025 — pattern, format, numeric bounds,
minItems/maxItems — and earlier transformers that strip them are out of date):

- types: string, number, integer, boolean, object, array, null; ``enum``; ``anyOf`` (not at
  the root); ``$defs`` + ``$ref`` (recursion allowed); ``description`` and ``title``;
- string: ``pattern``, ``format`` (date-time, time, date, duration, email, hostname, ipv4,
  ipv6, uuid);
- number / integer: ``multipleOf``, ``maximum``, ``exclusiveMaximum``, ``minimum``,
  ``exclusiveMinimum``;
- array: ``minItems``, ``maxItems``;
- object: every property listed in ``required`` and ``additionalProperties: false``; the root
  is an object.

``minLength``/``maxLength`` are *not* in that list (pydantic/pydantic-ai#7315 reports the API
accepting them in 2026, but undocumented behaviour can change), so they are moved into the
description as a hint; ``default``, ``examples``, ``uniqueItems`` and the like are dropped.
What is sent is therefore looser than the output schema, except that an optional property
becomes required, with its own schema (it is not made nullable: ``null`` would fail the full
schema unless the property already allows it). Every answer is validated against the full
schema with pydantic afterwards, so nothing the sent schema lets through is trusted.

A schema that strict mode cannot express without changing its meaning — an open object
(``dict[str, X]``), a list without ``items``, a tuple (``prefixItems``), a root that is not an
object — is sent as written with ``"strict": false``. ``null`` as a type is not in the list
but is how the guide itself writes an optional field (``"type": ["string", "null"]``).
"""

from typing import Any

STRING_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname",
                            "ipv4", "ipv6", "uuid"})
ANY_KEYWORDS = frozenset({"type", "enum", "description", "title", "anyOf", "$ref"})
TYPE_KEYWORDS = {
    "string": frozenset({"pattern", "format"}),
    "number": frozenset({"multipleOf", "maximum", "exclusiveMaximum", "minimum",
                         "exclusiveMinimum"}),
    "integer": frozenset({"multipleOf", "maximum", "exclusiveMaximum", "minimum",
                          "exclusiveMinimum"}),
    "array": frozenset({"items", "minItems", "maxItems"}),
    "object": frozenset({"properties", "required", "additionalProperties"}),
}
STRICT_KEYWORDS = ANY_KEYWORDS.union(*TYPE_KEYWORDS.values(), {"$defs"})
_SHAPE_KEYWORDS = frozenset({"prefixItems", "patternProperties", "additionalItems"})


class StrictUnsupported(ValueError):
    """The schema cannot be expressed in OpenAI's strict subset without changing its meaning."""


def to_openai_strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The strict-mode version of ``schema`` (a new dict; ``schema`` is not changed).

    Args:
        schema: an output JSON Schema (e.g. a pydantic model's ``model_json_schema()``).

    Returns:
        A schema that uses only the documented keywords, with every object closed and every
        property required.

    Raises:
        StrictUnsupported: the schema needs something strict mode cannot express.
    """
    if not isinstance(schema, dict) or _types(schema) != {"object"} or "anyOf" in schema:
        raise StrictUnsupported("the root of a strict schema must be a plain object")
    out = _node(schema, "#")
    defs = schema.get("$defs")
    if isinstance(defs, dict):
        out["$defs"] = {name: _node(sub, f"#/$defs/{name}") for name, sub in defs.items()}
    return out


def _types(node: dict[str, Any]) -> set[str]:
    declared = node.get("type")
    types = set(declared) if isinstance(declared, list) else {declared} if declared else set()
    if not types and "properties" in node:
        types = {"object"}
    return types


def _node(node: Any, where: str) -> dict[str, Any]:
    """One schema (a node of the schema grammar; never a ``properties`` map)."""
    if not isinstance(node, dict) or not node:
        raise StrictUnsupported(f"{where}: an unconstrained value (`{{}}` or `true`)")
    if "$ref" in node:  # siblings of $ref are not allowed: the target carries the schema
        return {"$ref": node["$ref"]}
    shape = sorted(_SHAPE_KEYWORDS & set(node))
    if shape:
        raise StrictUnsupported(f"{where}: `{shape[0]}`")
    if "allOf" in node:
        return _merged_all_of(node, where)
    out: dict[str, Any] = {}
    for keyword in ("type", "enum", "title", "description"):
        if keyword in node:
            out[keyword] = node[keyword]
    if "const" in node:
        out["enum"] = [node["const"]]
    for union in ("anyOf", "oneOf"):  # oneOf → anyOf: looser, the full schema is checked later
        if isinstance(node.get(union), list):
            out["anyOf"] = [_node(sub, f"{where}/{union}/{i}") for i, sub in
                            enumerate(node[union])]
    types = _types(node)
    if "object" in types:
        _object(node, out, where)
    if "array" in types:
        _array(node, out, where)
    if types & {"number", "integer"}:
        out.update({k: node[k] for k in TYPE_KEYWORDS["number"] if k in node})
    if "string" in types:
        _string(node, out)
    if not set(out) - {"title", "description"}:
        raise StrictUnsupported(f"{where}: no type")
    return out


def _merged_all_of(node: dict[str, Any], where: str) -> dict[str, Any]:
    parts = node["allOf"]
    if not isinstance(parts, list) or len(parts) != 1:
        raise StrictUnsupported(f"{where}: `allOf` with several schemas")
    merged = {**node, **parts[0]} if "$ref" not in parts[0] else dict(parts[0])
    merged.pop("allOf", None)
    return _node(merged, where)


def _object(node: dict[str, Any], out: dict[str, Any], where: str) -> None:
    properties = node.get("properties", {})
    extra = node.get("additionalProperties")
    if not isinstance(properties, dict) or extra not in (None, False):
        raise StrictUnsupported(f"{where}: an open object (additionalProperties)")
    if not properties:
        raise StrictUnsupported(f"{where}: an object without properties")
    # property NAMES are map keys, not keywords: a field called "properties" or "type" is data
    out["properties"] = {name: _node(sub, f"{where}/properties/{name}")
                         for name, sub in properties.items()}
    out["required"] = list(properties)
    out["additionalProperties"] = False


def _array(node: dict[str, Any], out: dict[str, Any], where: str) -> None:
    if "items" not in node:
        raise StrictUnsupported(f"{where}: an array without `items`")
    out["items"] = _node(node["items"], f"{where}/items")
    out.update({k: node[k] for k in ("minItems", "maxItems") if k in node})


def _string(node: dict[str, Any], out: dict[str, Any]) -> None:
    if "pattern" in node:
        out["pattern"] = node["pattern"]
    if node.get("format") in STRING_FORMATS:
        out["format"] = node["format"]
    hint = _length_hint(node.get("minLength"), node.get("maxLength"))
    if hint:
        description = out.get("description")
        out["description"] = f"{description} ({hint})" if description else hint


def _length_hint(low: Any, high: Any) -> str:
    low = low if isinstance(low, int) and low > 0 else None
    high = high if isinstance(high, int) else None
    if low is not None and high is not None:
        return f"{low} to {high} characters"
    if high is not None:
        return f"at most {high} characters"
    if low is not None:
        return f"at least {low} character{'s' if low > 1 else ''}"
    return ""


def openai_response_format(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """``response_format`` for OpenAI: strict when the schema allows it, else as written.

    Args:
        schema: the output JSON Schema.
        name: the schema's name (letters, digits, ``_`` and ``-``, at most 64 characters).

    Returns:
        ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``.
    """
    safe_name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64] or "output"
    try:
        sent, strict = to_openai_strict(schema), True
    except StrictUnsupported:
        sent, strict = schema, False
    return {"type": "json_schema", "json_schema": {"name": safe_name, "schema": sent,
                                                   "strict": strict}}
