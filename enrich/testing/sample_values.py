"""Sample values for generated JSON instances: words, string formats, wrong-type values."""

import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

_Item = TypeVar("_Item")

WORDS = (
    "amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
    "kelp", "lumen", "maple", "nectar", "onyx", "pebble", "quartz", "raven", "sable", "tundra",
    "umber", "velvet", "willow", "xenon", "yarrow", "zephyr", "lamp", "drill", "hose", "valve",
    "bolt", "panel", "grout", "tile", "brass", "steel", "oak", "pine", "matte", "gloss", "small",
    "large", "quiet", "rapid", "solid", "bright", "soft", "sturdy", "cordless", "outdoor",
)
WRONG_TYPE_SAMPLES: dict[str, Any] = {
    "object": {"unexpected": "shape"},
    "array": ["unexpected", "shape"],
    "string": "unexpected shape",
    "integer": 12345,
    "boolean": True,
    "null": None,
}


def _date(rng: random.Random) -> str:
    return f"20{rng.randint(10, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


FORMAT_SAMPLES: dict[str, Callable[[random.Random], str]] = {
    "date": _date,
    "date-time": lambda rng: f"{_date(rng)}T12:30:00Z",
    "time": lambda rng: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
    "email": lambda rng: f"{rng.choice(WORDS)}@example.com",
    "uri": lambda rng: f"https://example.com/{rng.choice(WORDS)}",
    "url": lambda rng: f"https://example.com/{rng.choice(WORDS)}",
    "hostname": lambda rng: f"{rng.choice(WORDS)}.example.com",
    "ipv4": lambda rng: f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
}


# A fixed word stream: a string of length n is a slice starting at a random word (one RNG draw).
_WORD_STREAM = " ".join(random.Random(20240601).choices(WORDS, k=240))
_WORD_STARTS = [0] + [i + 1 for i, char in enumerate(_WORD_STREAM) if char == " "]
_WORD_STARTS = [start for start in _WORD_STARTS if start < len(_WORD_STREAM) // 2]


def pick(rng: random.Random, items: Sequence[_Item]) -> _Item:
    """``rng.choice(items)`` with one ``random()`` call (several times faster)."""
    return items[int(rng.random() * len(items))]


def between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint(low, high)`` with one ``random()`` call (several times faster)."""
    return min(high, low + int(rng.random() * (high - low + 1)))


def words_of_length(length: int, rng: random.Random) -> str:
    """Return a string of exactly ``length`` characters made of words (no edge spaces)."""
    if length <= len(_WORD_STREAM) // 2:
        start = pick(rng, _WORD_STARTS)
        text = _WORD_STREAM[start : start + length]
    else:
        text = " ".join(rng.choices(WORDS, k=length // 3 + 1))[:length]
    return text[:-1] + "s" if text.endswith(" ") else text
