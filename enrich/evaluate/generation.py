"""Quality of generated text (synthetic queries, metadata): validity, length, duplicates, diversity.

Corpus-level rates (duplicate rate, distinct n-grams, pass rates) are computed once over all
rows as per-row numerators and denominators; the bootstrap then resamples rows and recomputes
the ratio of sums, so resampling does not invent duplicates.

Example:
    >>> distinct_n([["a b c", "a b d"]], 2)
    (3, 4)
"""

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

INVALID_KINDS = frozenset({"invalid_json", "schema_violation", "truncated", "empty_output"})
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased word tokens.

    Example:
        >>> words("What is  Mach-2 flow?")
        ['what', 'is', 'mach', '2', 'flow']
    """
    return _WORD.findall(text.lower())


def texts_of(output: Any, field: str | None) -> list[str]:
    """The generated strings in an output: ``field`` (a string or a list of strings), or every
    string value of the output when ``field`` is None.

    Example:
        >>> texts_of({"queries": ["a", "b"], "n": 2}, "queries")
        ['a', 'b']
    """
    value = output.get(field) if field and isinstance(output, dict) else output
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts_of(v, None)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in texts_of(v, None)]
    return []


def ratio(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """``sum(num) / sum(den)`` (NaN when the denominator is 0): the bootstrap statistic for
    rates whose unit (a query, an n-gram) is not the row."""
    den = float(np.sum(denominators))
    return float(np.sum(numerators)) / den if den else float("nan")


def duplicate_flags(rows: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: how many of its texts repeat an earlier text (normalised), and how many texts.

    Example:
        >>> duplicate_flags([["A b", "a  B"], ["c"], ["a b"]])
        (array([1, 0, 1]), array([2, 1, 1]))
    """
    seen: set[str] = set()
    dups, totals = [], []
    for texts in rows:
        count = 0
        for text in texts:
            key = " ".join(words(text))
            count += key in seen
            seen.add(key)
        dups.append(count)
        totals.append(len(texts))
    return np.asarray(dups, dtype=int), np.asarray(totals, dtype=int)


def novel_ngrams(rows: Sequence[Sequence[str]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: n-grams not seen in earlier rows (or earlier in the row), and all its n-grams.

    Their sums give distinct-n (unique n-grams / total n-grams over the whole output).
    """
    seen: set[tuple[str, ...]] = set()
    novel, totals = [], []
    for texts in rows:
        new = total = 0
        for text in texts:
            tokens = words(text)
            for i in range(len(tokens) - n + 1):
                gram = tuple(tokens[i:i + n])
                new += gram not in seen
                seen.add(gram)
                total += 1
        novel.append(new)
        totals.append(total)
    return np.asarray(novel, dtype=int), np.asarray(totals, dtype=int)


def distinct_n(rows: Iterable[Sequence[str]], n: int) -> tuple[int, int]:
    """Unique and total n-grams over all texts (distinct-n = unique / total)."""
    novel, totals = novel_ngrams(list(rows), n)
    return int(novel.sum()), int(totals.sum())


def mean_words(texts: Sequence[str]) -> float:
    """Mean length in words of a row's texts (NaN for no text)."""
    return float(np.mean([len(words(t)) for t in texts])) if texts else float("nan")
