"""Locate the spans a model copied out of a query, so that ``query[start:end] == text``.

Models are asked to copy words from the query, but small ones change case, squeeze double
spaces, fix a typo or return a span the query does not contain. Offsets from the model are
never trusted: each span is searched for in the query, in order, first exactly (ignoring case
and runs of whitespace), then fuzzily over windows of whole query words. A located span's text is
the query's own substring; spans that cannot be placed, or would overlap one already placed,
are returned separately with the reason.

Example:
    >>> located, missed = locate_spans("Dewalt  20v drill", [
    ...     {"text": "dewalt", "type": "brand"}, {"text": "20V", "type": "attribute"},
    ...     {"text": "drils", "type": "product_type"}, {"text": "saw", "type": "product_type"}])
    >>> [(s["text"], s["start"], s["end"]) for s in located]
    [('Dewalt', 0, 6), ('20v', 8, 11), ('drill', 12, 17)]
    >>> missed[0]["reason"]
    'not in the query'
"""

import re
from difflib import SequenceMatcher
from typing import Any

_WORD = re.compile(r"\S+")
_FUZZY_MIN_RATIO = 0.75


def _exact_pattern(text: str) -> re.Pattern[str] | None:
    words = text.split()
    if not words:
        return None
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)


def _free(start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    return all(end <= s or start >= e for s, e in taken)


def _exact(query: str, text: str, cursor: int, taken: list[tuple[int, int]]
           ) -> tuple[int, int] | None:
    pattern = _exact_pattern(text)
    if pattern is None:
        return None
    for begin in (cursor, 0):
        for match in pattern.finditer(query, begin):
            if _free(match.start(), match.end(), taken):
                return match.start(), match.end()
    return None


def _fuzzy(query: str, text: str, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    words = [(m.start(), m.end()) for m in _WORD.finditer(query)]
    target = " ".join(text.lower().split())
    best: tuple[float, int, int] | None = None
    n_target = len(target.split())
    for size in {max(1, n_target - 1), n_target, n_target + 1}:
        for i in range(0, len(words) - size + 1):
            start, end = words[i][0], words[i + size - 1][1]
            if not _free(start, end, taken):
                continue
            window = " ".join(query[start:end].lower().split())
            ratio = SequenceMatcher(None, window, target).ratio()
            if ratio >= _FUZZY_MIN_RATIO and (best is None or ratio > best[0]):
                best = (ratio, start, end)
    return (best[1], best[2]) if best else None


def locate_spans(query: str, spans: list[dict[str, Any]]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Place each ``{"text", "type"}`` span in ``query``.

    Args:
        query: the query exactly as stored (offsets index this string).
        spans: spans as the model returned them (any ``start``/``end`` it gave are ignored).

    Returns:
        ``(located, unlocated)``: located spans ``{text, type, start, end}`` sorted by
        ``start``, with ``query[start:end] == text``; unlocated ones ``{text, type, reason}``.
    """
    located: list[dict[str, Any]] = []
    unlocated: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    cursor = 0
    for span in spans:
        text, kind = str(span.get("text", "")), span.get("type")
        if not text.strip():
            unlocated.append({"text": text, "type": kind, "reason": "empty"})
            continue
        place = _exact(query, text, cursor, taken) or _fuzzy(query, text, taken)
        if place is None:
            overlaps = _exact(query, text, 0, []) is not None
            reason = "overlaps another span" if overlaps else "not in the query"
            unlocated.append({"text": text, "type": kind, "reason": reason})
            continue
        start, end = place
        taken.append(place)
        cursor = end
        located.append({"text": query[start:end], "type": kind, "start": start, "end": end})
    located.sort(key=lambda s: s["start"])
    return located, unlocated
