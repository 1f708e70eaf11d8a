"""Small JSON Schema keyword helpers shared by the instance generator: merging and bounds."""

from collections.abc import Mapping
from typing import Any

LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


class SchemaInstanceError(ValueError):
    """The schema uses something the generator cannot satisfy (remote $ref, `false`, ...)."""


def merge_schemas(first: Any, second: Any) -> Any:
    """Merge two (already $ref-resolved) schemas into one that requires both, for simple cases.

    Properties and required lists are unioned, types intersected, bounds tightened, enums
    intersected; for other keywords present in both, the first schema's value is kept.
    """
    if first is True or first == {}:
        return second
    if second is True or second == {}:
        return first
    if first is False or second is False:
        return False
    merged = dict(first)
    for key, value in second.items():
        if key not in merged:
            merged[key] = value
        else:
            merged[key] = _merge_keyword(key, merged[key], value)
    return merged


def _merge_keyword(key: str, current: Any, value: Any) -> Any:
    if key == "properties":
        properties = dict(current)
        for name, sub in value.items():
            properties[name] = {"allOf": [properties[name], sub]} if name in properties else sub
        return properties
    if key == "required":
        return list(dict.fromkeys([*current, *value]))
    if key == "type":
        return _intersect_types(current, value)
    if key == "enum":
        return [item for item in current if item in value]
    both_numbers = not isinstance(current, bool) and not isinstance(value, bool)
    if key in LOWER_BOUNDS and both_numbers:
        return max(current, value)
    if key in UPPER_BOUNDS and both_numbers:
        return min(current, value)
    if key in ("additionalProperties", "items") and False in (current, value):
        return False
    if key in ("items", "additionalProperties") and isinstance(current, dict):
        return {"allOf": [current, value]} if isinstance(value, dict) else current
    return current


def _intersect_types(first: str | list[str], second: str | list[str]) -> str | list[str]:
    first_types = [first] if isinstance(first, str) else list(first)
    second_types = [second] if isinstance(second, str) else list(second)
    common = [name for name in first_types if name in second_types]
    if "integer" not in common and (
        ("integer" in first_types and "number" in second_types)
        or ("number" in first_types and "integer" in second_types)
    ):
        common.append("integer")
    if not common:
        raise SchemaInstanceError(f"allOf combines incompatible types {first!r} and {second!r}")
    return common[0] if len(common) == 1 else common


def json_type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"




def numeric_bounds(node: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """Return (low, low_is_exclusive, high, high_is_exclusive) in either draft's spelling."""
    low, high = node.get("minimum"), node.get("maximum")
    low_open = high_open = False
    exclusive_low, exclusive_high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if exclusive_low is True:
        low_open = low is not None
    elif exclusive_low is not None and exclusive_low is not False and (
            low is None or exclusive_low >= low):
        low, low_open = exclusive_low, True
    if exclusive_high is True:
        high_open = high is not None
    elif exclusive_high is not None and exclusive_high is not False and (
            high is None or exclusive_high <= high):
        high, high_open = exclusive_high, True
    return low, low_open, high, high_open


