"""OpenAI strict mode: the schema sent uses only the documented keywords, closes every object and
requires every property; what strict mode cannot express is sent non-strict, as written."""

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from enrich.backends.openai_schema import (
    StrictUnsupported,
    openai_response_format,
    to_openai_strict,
)
from enrich.schema_registry import SchemaRegistry
from enrich.testing.fake_dialects import strict_schema_problem
from enrich.testing.schema_instances import SchemaInstanceGenerator

REPO = Path(__file__).resolve().parent.parent
SHIPPED = SchemaRegistry(REPO / "schemas")

# OpenAI's "Supported schemas" list, written out independently of the code under test
DOCUMENTED = {
    "any": {"type", "enum", "description", "title", "anyOf", "$ref"},
    "string": {"pattern", "format"},
    "number": {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
}
FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}


def strict_problems(node: Any, where: str = "#", root: bool = True) -> list[str]:
    """Everything in ``node`` that OpenAI strict mode does not document (walks the grammar:
    the names in a ``properties`` map are data, never keywords)."""
    if not isinstance(node, dict):
        return [f"{where}: not a schema"]
    types = node.get("type") if isinstance(node.get("type"), list) else [node.get("type")]
    allowed = set(DOCUMENTED["any"]) | ({"$defs"} if root else set())
    for kind in types:
        allowed |= DOCUMENTED.get("number" if kind == "integer" else str(kind), set())
    problems = [f"{where}: `{k}`" for k in node if k not in allowed]
    if "format" in node and node["format"] not in FORMATS:
        problems.append(f"{where}: format {node['format']}")
    if "object" in types:
        props = node.get("properties", {})
        if node.get("additionalProperties") is not False:
            problems.append(f"{where}: open object")
        if sorted(node.get("required", [])) != sorted(props):
            problems.append(f"{where}: not every property required")
    children = [(f"{where}/properties/{k}", v) for k, v in node.get("properties", {}).items()]
    children += [(f"{where}/$defs/{k}", v) for k, v in node.get("$defs", {}).items()]
    children += [(f"{where}/anyOf/{i}", v) for i, v in enumerate(node.get("anyOf", []))]
    if "items" in node:
        children.append((f"{where}/items", node["items"]))
    for path, child in children:
        problems += strict_problems(child, path, root=False)
    return problems


@pytest.mark.parametrize("name", SHIPPED.names())
def test_every_shipped_schema_becomes_strict(name: str) -> None:
    original = SHIPPED.get(name).json_schema
    sent = to_openai_strict(original)
    assert strict_problems(sent) == []
    assert strict_schema_problem(sent, ()) is None  # the fake OpenAI's own check agrees
    fmt = openai_response_format(original, name)["json_schema"]
    assert fmt["strict"] is True and fmt["name"] == name
    # what was sent accepts every answer the full schema accepts (it is only looser)
    generator = SchemaInstanceGenerator(original)
    for seed in range(25):
        jsonschema.validate(generator.valid_instance(seed), sent)


def test_a_field_called_properties_is_data_not_a_keyword() -> None:
    """The old check walked the `properties` map as if it were a schema, so ItemMetadata's
    `attributes.properties` field made every request non-strict."""
    schema = SHIPPED.get("ItemMetadata").json_schema
    sent = openai_response_format(schema, "ItemMetadata")["json_schema"]
    assert sent["strict"] is True
    attributes = sent["schema"]["$defs"]["ItemAttributes"]
    assert attributes["properties"]["properties"]["type"] == "array"
    assert "minLength" not in str(sent["schema"]) and "maxLength" not in str(sent["schema"])
    assert "(1 to 60 characters)" in attributes["properties"]["category"]["description"]


class _Optional(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, default="x", examples=["Heat"])
    note: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=3)


class _OpenMap(BaseModel):
    scores: dict[str, int]


class _Pair(BaseModel):
    pair: tuple[int, int]


def test_optional_fields_become_required_and_keep_their_schema() -> None:
    sent = to_openai_strict(_Optional.model_json_schema())
    assert sent["required"] == ["title", "note", "tags"]
    assert sent["properties"]["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert sent["properties"]["title"] == {"type": "string", "title": "Title",
                                           "description": "at least 1 character"}
    assert strict_problems(sent) == []


@pytest.mark.parametrize("model", [_OpenMap, _Pair])
def test_what_strict_cannot_express_is_sent_as_written(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    with pytest.raises(StrictUnsupported):
        to_openai_strict(schema)
    fmt = openai_response_format(schema, "odd name!")["json_schema"]
    assert fmt == {"name": "odd_name_", "schema": schema, "strict": False}


def test_root_must_be_an_object() -> None:
    for schema in ({"type": "array", "items": {"type": "string"}},
                   {"anyOf": [{"type": "object", "properties": {"a": {"type": "string"}}}]}):
        assert openai_response_format(schema, "x")["json_schema"]["strict"] is False


# -- generated schemas ------------------------------------------------------------------------

_noise = st.fixed_dictionaries({}, optional={
    "default": st.integers(), "examples": st.lists(st.integers(), max_size=2),
    "$comment": st.text(max_size=5), "description": st.text(max_size=10),
    "deprecated": st.booleans(), "readOnly": st.booleans()})
_string = st.builds(lambda extra, n: {"type": "string", **extra, **n}, st.fixed_dictionaries(
    {}, optional={"minLength": st.integers(0, 5), "maxLength": st.integers(5, 50),
                  "pattern": st.just("^[a-z]+$"),
                  "format": st.sampled_from(["email", "uri", "date", "uuid"])}), _noise)
_number = st.builds(lambda t, extra, n: {"type": t, **extra, **n},
                    st.sampled_from(["integer", "number"]), st.fixed_dictionaries(
                        {}, optional={"minimum": st.integers(-5, 0), "maximum": st.integers(1, 9),
                                      "multipleOf": st.just(1)}), _noise)
_leaf = st.one_of(_string, _number, st.just({"type": "boolean"}),
                  st.builds(lambda v: {"enum": v}, st.lists(st.text(max_size=4), min_size=1,
                                                            max_size=3, unique=True)),
                  st.builds(lambda v: {"const": v}, st.integers()))
_names = st.sampled_from(["properties", "type", "items", "required", "title", "a", "b", "$ref"])


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    obj = st.builds(lambda props, req, closed: {
        "type": "object", "properties": props, "required": [k for k in props if req],
        **({"additionalProperties": False} if closed else {})},
        st.dictionaries(_names, children, min_size=1, max_size=4), st.booleans(), st.booleans())
    arr = st.builds(lambda items, extra: {"type": "array", "items": items, **extra}, children,
                    st.fixed_dictionaries({}, optional={"minItems": st.integers(0, 2),
                                                        "maxItems": st.integers(2, 5),
                                                        "uniqueItems": st.booleans()}))
    union = st.builds(lambda a, b, key: {key: [a, b]}, children, children,
                      st.sampled_from(["anyOf", "oneOf"]))
    # what strict mode cannot express: an open map, a tuple, a list of anything
    odd = st.one_of(st.builds(lambda c: {"type": "object", "additionalProperties": c}, children),
                    st.builds(lambda c: {"type": "array", "prefixItems": [c]}, children),
                    st.just({"type": "array"}))
    return st.one_of(obj, arr, union, obj, arr, odd)


_schemas = st.recursive(_leaf, _extend, max_leaves=12).map(
    lambda s: s if s.get("type") == "object" else {"type": "object", "properties": {"v": s}})


@settings(max_examples=300, deadline=None)
@given(schema=_schemas)
def test_any_schema_is_either_made_strict_or_sent_as_written(schema: dict[str, Any]) -> None:
    try:
        sent = to_openai_strict(schema)
    except StrictUnsupported:
        assert openai_response_format(schema, "s")["json_schema"]["strict"] is False
        return
    assert strict_problems(sent) == []
    assert strict_schema_problem(sent, ()) is None
    assert openai_response_format(schema, "s")["json_schema"]["schema"] == sent
