"""Deterministic JSON instances that are valid (or deliberately invalid) for a JSON Schema.

Covers the subset of JSON Schema that structured-output schemas use: ``object`` (properties,
required, additionalProperties, min/maxProperties), ``array`` (items, prefixItems, min/maxItems,
uniqueItems), ``string`` (min/maxLength, enum, const; common formats get a plausible value,
``pattern`` is ignored), ``integer``/``number`` (minimum, maximum, exclusive bounds in both
draft-4 and later spellings, multipleOf), ``boolean``, ``null``, type lists such as
``["string", "null"]``, ``anyOf``/``oneOf`` (one branch is chosen), ``allOf`` (simple merge) and
``$ref`` into ``$defs``/``definitions`` (any local JSON pointer), resolved recursively. Beyond
``max_depth`` generation keeps to required properties, ``minItems`` items and non-recursive
branches, so recursive schemas terminate.

Example:
    >>> generator = SchemaInstanceGenerator({"type": "object", "properties": {
    ...     "title": {"type": "string", "maxLength": 20}}, "required": ["title"]})
    >>> generator.valid_instance(seed=7) == generator.valid_instance(seed=7)
    True
"""

import copy
import math
import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from enrich.testing.sample_values import (
    FORMAT_SAMPLES,
    WORDS,
    WRONG_TYPE_SAMPLES,
    between,
    pick,
    words_of_length,
)
from enrich.testing.schema_keywords import (
    SchemaInstanceError,
    json_type_of,
    merge_schemas,
    numeric_bounds,
)

__all__ = [
    "SchemaInstanceError",
    "SchemaInstanceGenerator",
    "merge_schemas",
    "valid_instance",
    "wrong_shape_instance",
]

_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "deprecated", "readOnly",
     "writeOnly", "$schema", "$id"}
)
_JSON_TYPES = ("object", "array", "string", "integer", "boolean", "null")


def _is_string_enum(schema: Mapping[str, Any]) -> bool:
    values = schema.get("enum")
    if not isinstance(values, list) or len(values) < 2:
        return False
    return all(isinstance(value, str) for value in values)


def _is_null_schema(schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return False
    return schema.get("type") == "null" or ("const" in schema and schema["const"] is None)


class SchemaInstanceGenerator:
    """Generates JSON instances that are valid (or invalid) for one JSON Schema, deterministically.

    The same seed always gives the same instance. Resolved ``$ref``/``allOf`` nodes are cached,
    so generating many instances from one generator is cheap (tens of microseconds for a
    typical structured-output schema).

    Args:
        schema: a JSON Schema as a dict (or ``True``); local ``$ref`` pointers resolve against it.
        max_depth: nesting depth after which generation stays minimal (recursive schemas).

    Example:
        >>> generator = SchemaInstanceGenerator({"type": "integer", "minimum": 3, "maximum": 3})
        >>> generator.valid_instance()
        3
    """

    def __init__(self, schema: Mapping[str, Any] | bool, *, max_depth: int = 6) -> None:
        if not isinstance(schema, Mapping | bool):
            raise SchemaInstanceError(f"a JSON Schema must be an object, got {type(schema)}")
        self.schema = schema
        self.max_depth = max_depth
        self._flat_cache: dict[int, Any] = {}
        self._branch_cache: dict[tuple[int, int], Any] = {}

    def valid_instance(self, seed: int | str = 0) -> Any:
        """Return an instance that validates against the schema, determined by ``seed``."""
        return self._generate(self.schema, random.Random(seed), 0)

    def wrong_shape_instance(self, seed: int | str = 0) -> Any:
        """Return valid JSON that fails the schema: a required property dropped or a wrong type.

        Raises:
            SchemaInstanceError: the schema accepts every JSON value, so nothing can fail it.
        """
        rng = random.Random(seed)
        root = self._flatten(self.schema)
        accepted = self._accepted_types(root, 0)
        if (
            isinstance(root, Mapping)
            and root.get("required")
            and "object" in accepted
            and not root.get("anyOf")
            and not root.get("oneOf")
        ):
            instance = self._object(root, rng, 0)
            del instance[rng.choice(list(root["required"]))]
            return instance
        rejected = [
            name for name in _JSON_TYPES
            if name not in accepted and not (name == "integer" and "number" in accepted)
        ]
        if not rejected:
            raise SchemaInstanceError("the schema accepts every JSON type; nothing fails it")
        return copy.deepcopy(WRONG_TYPE_SAMPLES[rng.choice(rejected)])

    def label_enum(self) -> tuple[str | None, list[str]] | None:
        """Return the schema's label: (property, values) of the root object's first string-enum
        property, (None, values) when the root itself is a string enum, or None.
        """
        root = self._flatten(self.schema)
        if not isinstance(root, Mapping):
            return None
        if _is_string_enum(root):
            return None, list(root["enum"])
        for name, sub in (root.get("properties") or {}).items():
            flat = self._flatten(sub)
            if isinstance(flat, Mapping) and _is_string_enum(flat):
                return name, list(flat["enum"])
        return None

    # -- resolution -------------------------------------------------------------------------

    def _resolve_pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaInstanceError(f"only local $ref pointers are supported, got {ref!r}")
        node: Any = self.schema
        for raw_part in unquote(ref[1:]).split("/")[1:]:
            part = raw_part.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError) as error:
                raise SchemaInstanceError(f"$ref {ref!r} points at nothing") from error
        return node

    def _flatten(self, node: Any) -> Any:
        """Resolve ``$ref`` and merge ``allOf`` at the top of ``node`` (cached per node)."""
        if isinstance(node, bool) or ("$ref" not in node and "allOf" not in node):
            return node
        cached = self._flat_cache.get(id(node))
        if cached is not None:
            return cached
        flat = node
        if "$ref" in flat:
            target = self._flatten(self._resolve_pointer(flat["$ref"]))
            siblings = {key: value for key, value in flat.items() if key != "$ref"}
            flat = merge_schemas(target, siblings) if set(siblings) - _ANNOTATIONS else target
        if isinstance(flat, Mapping) and "allOf" in flat:
            merged: Any = {key: value for key, value in flat.items() if key != "allOf"}
            for part in flat["allOf"]:
                merged = merge_schemas(merged, self._flatten(part))
            flat = merged
        self._flat_cache[id(node)] = flat
        return flat

    def _accepted_types(self, node: Any, depth: int) -> set[str]:
        node = self._flatten(node)
        if node is True:
            return {*_JSON_TYPES, "number"}
        if node is False or depth > self.max_depth:
            return set()
        if "const" in node:
            return {json_type_of(node["const"])}
        if "enum" in node:
            return {json_type_of(item) for item in node["enum"]}
        declared = node.get("type")
        if declared is None:
            accepted = {*_JSON_TYPES, "number"}
        else:
            accepted = {declared} if isinstance(declared, str) else set(declared)
        branches = node.get("anyOf") or node.get("oneOf")
        if branches:
            union: set[str] = set()
            for branch in branches:
                union |= self._accepted_types(branch, depth + 1)
            if "number" in union:
                union.add("integer")
            accepted = accepted & union if declared is not None else union
        return accepted

    # -- generation -------------------------------------------------------------------------

    def _generate(self, node: Any, rng: random.Random, depth: int) -> Any:
        node = self._flatten(node)
        if node is True:
            return pick(rng, WORDS)
        if node is False:
            raise SchemaInstanceError("the schema `false` accepts no value")
        if "const" in node:
            return node["const"]
        if "enum" in node:
            if not node["enum"]:
                raise SchemaInstanceError("an empty enum accepts no value")
            return pick(rng, node["enum"])
        if "anyOf" in node or "oneOf" in node:
            return self._generate(self._choose_branch(node, rng, depth), rng, depth)
        type_name = self._choose_type(node, rng)
        return _GENERATORS[type_name](self, node, rng, depth)

    def _choose_branch(self, node: Mapping[str, Any], rng: random.Random, depth: int) -> Any:
        branches = node.get("anyOf") or node.get("oneOf") or [True]
        non_null = [index for index, branch in enumerate(branches) if not _is_null_schema(branch)]
        if depth >= self.max_depth:
            shallow = [i for i, b in enumerate(branches) if isinstance(b, bool) or "$ref" not in b]
            index = shallow[0] if shallow else 0
        elif non_null and (len(non_null) == len(branches) or rng.random() < 0.8):
            index = pick(rng, non_null)
        else:
            index = rng.randrange(len(branches))
        key = (id(node), index)
        merged = self._branch_cache.get(key)
        if merged is None:
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            branch = self._flatten(branches[index])
            merged = merge_schemas(rest, branch) if set(rest) - _ANNOTATIONS else branch
            self._branch_cache[key] = merged
        return merged

    def _choose_type(self, node: Mapping[str, Any], rng: random.Random) -> str:
        declared = node.get("type")
        if isinstance(declared, str):
            return declared
        if declared:
            non_null = [name for name in declared if name != "null"]
            if non_null and (len(non_null) == len(declared) or rng.random() < 0.8):
                return str(pick(rng, non_null))
            return str(pick(rng, declared))
        if "properties" in node or "required" in node or "additionalProperties" in node:
            return "object"
        if "items" in node or "prefixItems" in node or "minItems" in node:
            return "array"
        if "minimum" in node or "maximum" in node or "multipleOf" in node:
            return "number"
        return "string"

    def _object(self, node: Mapping[str, Any], rng: random.Random, depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = node.get("properties") or {}
        required = node.get("required") or ()
        minimal = depth >= self.max_depth
        extra_schema = node.get("additionalProperties", True)
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            if name in required or (not minimal and rng.random() < 0.6):
                result[name] = self._generate(sub, rng, depth + 1)
        for name in required:
            if name not in result:
                result[name] = self._generate(extra_schema or True, rng, depth + 1)
        missing = node.get("minProperties", 0) - len(result)
        spare = [name for name in properties if name not in result]
        while missing > 0 and spare:
            name = spare.pop(0)
            result[name] = self._generate(properties[name], rng, depth + 1)
            missing -= 1
        for index in range(missing if extra_schema is not False else 0):
            result[f"extra_{index}"] = self._generate(extra_schema, rng, depth + 1)
        maximum = node.get("maxProperties")
        if maximum is not None and len(result) > maximum:
            optional = [name for name in result if name not in required]
            for name in optional[: len(result) - maximum]:
                del result[name]
        return result

    def _array(self, node: Mapping[str, Any], rng: random.Random, depth: int) -> list[Any]:
        prefix = node.get("prefixItems") or []
        items = node.get("items", True)
        if isinstance(items, list):
            prefix, items = items, node.get("additionalItems", True)
        low = node.get("minItems", 0)
        high = node.get("maxItems")
        if items is False:
            high = len(prefix) if high is None else min(high, len(prefix))
        if depth >= self.max_depth:
            count = low
        else:
            top = min(high if high is not None else low + 3, low + 4)
            count = between(rng, max(low, min(1, top)), max(low, top))
        if node.get("uniqueItems", False):
            return self._unique_items(prefix, items, count, rng, depth)
        return [
            self._generate(prefix[i] if i < len(prefix) else items, rng, depth + 1)
            for i in range(count)
        ]

    def _unique_items(
        self, prefix: list[Any], items: Any, count: int, rng: random.Random, depth: int
    ) -> list[Any]:
        """Items for ``uniqueItems``: enum items are drawn without replacement, others retried."""
        flat_items = self._flatten(items)
        if not prefix and isinstance(flat_items, Mapping) and "enum" in flat_items:
            choices = list(flat_items["enum"])
            return rng.sample(choices, min(count, len(choices)))
        result: list[Any] = []
        seen: set[str] = set()
        for position in range(count):
            schema = prefix[position] if position < len(prefix) else items
            for _attempt in range(12):
                value = self._generate(schema, rng, depth + 1)
                if repr(value) not in seen:
                    break
            else:
                break
            seen.add(repr(value))
            result.append(value)
        return result

    def _string(self, node: Mapping[str, Any], rng: random.Random, depth: int) -> str:
        low = node.get("minLength", 0)
        high = node.get("maxLength")
        sample = FORMAT_SAMPLES.get(node.get("format", ""))
        if sample is not None:
            value = sample(rng)
            if low <= len(value) and (high is None or len(value) <= high):
                return value
        top = min(high if high is not None else low + 32, low + 48)
        target = between(rng, max(low, min(3, top)), max(low, top))
        return words_of_length(target, rng)

    def _integer(self, node: Mapping[str, Any], rng: random.Random, depth: int) -> int:
        low, low_open, high, high_open = numeric_bounds(node)
        first = last = None
        if low is not None:
            first = math.floor(low) + 1 if low_open else math.ceil(low)
        if high is not None:
            last = math.ceil(high) - 1 if high_open else math.floor(high)
        first = first if first is not None else (last - 100 if last is not None else 0)
        last = last if last is not None else first + 100
        step = node.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            first, last = -(-first // step), last // step
            if first > last:
                raise SchemaInstanceError(f"no multiple of {step} within the bounds")
            return between(rng, first, last) * step
        if first > last:
            raise SchemaInstanceError(f"integer bounds are empty: {first} > {last}")
        return between(rng, first, last)

    def _number(self, node: Mapping[str, Any], rng: random.Random, depth: int) -> float | int:
        low, low_open, high, high_open = numeric_bounds(node)
        low = low if low is not None else (high - 100.0 if high is not None else 0.0)
        high = high if high is not None else low + 100.0
        if low > high or (low == high and (low_open or high_open)):
            raise SchemaInstanceError(f"number bounds are empty: {low} .. {high}")
        step = node.get("multipleOf")
        if step:
            first, last = math.ceil(low / step), math.floor(high / step)
            start = rng.randint(first, last) if first <= last else first
            for multiple in [*range(start, last + 1), *range(first, start)][:1000]:
                value: float = round(multiple * step, 10)
                inside = (low < value or (not low_open and low == value)) and (
                    value < high or (not high_open and value == high))
                if inside and value / step == int(value / step):
                    return value
            return self._integer(node, rng, depth)
        value = round(rng.uniform(low, high), 2)
        if (value < low or value > high or (low_open and value == low)
                or (high_open and value == high)):
            value = (low + high) / 2
        return value

    def _boolean(self, node: Mapping[str, Any], rng: random.Random, depth: int) -> bool:
        return rng.random() < 0.5

    def _null(self, node: Mapping[str, Any], rng: random.Random, depth: int) -> None:
        return None


_GENERATORS: dict[str, Callable[[SchemaInstanceGenerator, Any, random.Random, int], Any]] = {
    "object": SchemaInstanceGenerator._object,
    "array": SchemaInstanceGenerator._array,
    "string": SchemaInstanceGenerator._string,
    "integer": SchemaInstanceGenerator._integer,
    "number": SchemaInstanceGenerator._number,
    "boolean": SchemaInstanceGenerator._boolean,
    "null": SchemaInstanceGenerator._null,
}


def valid_instance(schema: Mapping[str, Any] | bool, seed: int | str = 0) -> Any:
    """Return a JSON instance valid for ``schema``, determined by ``seed``.

    Example:
        >>> valid_instance({"enum": ["yes", "no"]}, seed=1) in ("yes", "no")
        True
    """
    return SchemaInstanceGenerator(schema).valid_instance(seed)


def wrong_shape_instance(schema: Mapping[str, Any] | bool, seed: int | str = 0) -> Any:
    """Return valid JSON that fails ``schema`` (a required property dropped or a wrong type)."""
    return SchemaInstanceGenerator(schema).wrong_shape_instance(seed)
