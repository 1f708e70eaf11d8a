"""Raw control characters inside JSON strings, as llama.cpp's JSON grammar lets a model write them.

Measured against llama_cpp.server with SmolLM2-135M: an answer with a raw newline inside a string
("...A summary\\nwith a line break...") failed repair and was stored as invalid JSON. JSON
forbids U+0000–U+001F inside strings; ``repair_json_text`` now escapes them there and leaves the
whitespace between tokens alone.
"""

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from enrich.repair import repair_json_text

CONTROL = "".join(chr(c) for c in range(0x20))
TEXT = st.text(alphabet=st.sampled_from(CONTROL + 'ab {}[]":,\\é'), max_size=12)
SCALARS = TEXT | st.integers(-1000, 1000) | st.booleans() | st.none()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)
OBJECTS = st.dictionaries(TEXT, VALUES, min_size=1, max_size=4)


def grammar_dumps(value: Any, pretty: bool, escape_controls: bool = False) -> str:
    """JSON as a grammar-constrained model writes it: quotes and backslashes escaped, control
    characters raw inside strings (or escaped as ``json.dumps`` does, with
    ``escape_controls``); ``pretty`` puts newlines and tabs between tokens."""
    gap = "\n\t" if pretty else ""
    if isinstance(value, str):
        if escape_controls:
            return json.dumps(value, ensure_ascii=False)
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        items = [f"{gap}{grammar_dumps(k, pretty, escape_controls)}: "
                 f"{grammar_dumps(v, pretty, escape_controls)}" for k, v in value.items()]
        return "{" + ",".join(items) + gap + "}"
    if isinstance(value, list):
        return "[" + ", ".join(grammar_dumps(v, pretty, escape_controls) for v in value) + "]"
    return json.dumps(value)


@given(OBJECTS, st.booleans())
def test_raw_control_characters_inside_strings_are_repaired(obj: dict[str, Any],
                                                            pretty: bool) -> None:
    raw = grammar_dumps(obj, pretty)
    repaired = repair_json_text(raw)
    assert json.loads(raw if repaired is None else repaired) == obj


@given(OBJECTS)
def test_valid_json_is_left_alone(obj: dict[str, Any]) -> None:
    text = json.dumps(obj, ensure_ascii=False)
    assert repair_json_text(text) in (None, text)


@given(OBJECTS, st.booleans())
def test_only_the_characters_inside_strings_change(obj: dict[str, Any], pretty: bool) -> None:
    """The repair is exactly JSON's own escaping of those characters; the newlines and tabs
    between tokens stay as they were."""
    raw = grammar_dumps(obj, pretty)
    assert (repair_json_text(raw) or raw) == grammar_dumps(obj, pretty, escape_controls=True)


def test_the_measured_answer() -> None:
    """The shape SmolLM2 wrote through llama_cpp.server (a line break inside the summary)."""
    raw = '{"clean_title": "Drill", "summary": "A cordless drill.\nGreat for DIY."}'
    assert json.loads(repair_json_text(raw) or "null")["summary"] == \
        "A cordless drill.\nGreat for DIY."
