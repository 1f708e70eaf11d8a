"""Cheap local repair of almost-JSON before asking the model again.

Small models wrap JSON in code fences, add a sentence before it, or stop mid-object at
``max_tokens``; grammar-constrained servers (llama.cpp's JSON grammar) let a raw newline or tab
into a string, which JSON forbids. These are fixed without another LLM call; anything else is
left to a re-ask.
"""

import re

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _escape_control_characters(text: str) -> str:
    """Escape raw control characters (U+0000 to U+001F) inside JSON strings.

    JSON forbids them there, but llama.cpp's JSON grammar lets a model write them. Characters
    outside strings (newlines between tokens) are left alone.

    Args:
        text: almost-JSON text.

    Returns:
        The text with ``\\n``, ``\\t``, ... (or ``\\u00XX``) in place of raw control
        characters inside strings.
    """
    out: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string and ch < " ":
            # after a lone backslash, write an escaped backslash first: `\<newline>` was
            # meant as a backslash followed by a line break
            out.append(("\\" if escaped else "") + _SHORT_ESCAPES.get(ch, f"\\u{ord(ch):04x}"))
            escaped = False
            continue
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        out.append(ch)
    return "".join(out)


def _close_truncated(text: str) -> str:
    """Close open strings, arrays and objects of JSON that was cut off."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    tail = text.rstrip()
    if in_string:
        tail += '"'
    elif tail.endswith((",", ":")):
        tail = tail.rstrip(",:").rstrip()
        if tail.endswith('"') and stack and stack[-1] == "}" and tail.count('"') % 2 == 0:
            # a dangling key with no value: drop the key
            tail = tail[: tail.rfind('"', 0, len(tail) - 1)].rstrip().rstrip(",")
    return tail + "".join(reversed(stack))


def repair_json_text(text: str) -> str | None:
    """A repaired candidate for ``text``, or None when there is nothing to try.

    Example:
        >>> repair_json_text('```json\\n{"a": 1}\\n```')
        '{"a": 1}'
        >>> repair_json_text('{"a": [1, 2')
        '{"a": [1, 2]}'
        >>> repair_json_text('{"a": "line one\\nline two"}')
        '{"a": "line one\\\\nline two"}'
    """
    candidate = text
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1)
    start = candidate.find("{")
    if start < 0:
        return None
    candidate = _escape_control_characters(candidate[start:])
    end = candidate.rfind("}")
    balanced = candidate[: end + 1] if end >= 0 else candidate
    if balanced.count("{") == balanced.count("}") and balanced.count("[") == balanced.count("]"):
        candidate = balanced
    else:
        candidate = _close_truncated(candidate)
    return candidate if candidate != text else None
