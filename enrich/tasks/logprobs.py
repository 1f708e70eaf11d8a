"""Reading token log-probabilities (OpenAI format) back onto the JSON a model generated.

Backends return ``logprobs`` as a list of ``{token, logprob, top_logprobs: [{token,
logprob}]}``, one entry per generated token; llama.cpp in process and OpenAI-compatible servers
(vLLM, llama.cpp's server, OpenAI) use the same shape. The top alternatives are the model's
own distribution at that position (llama.cpp and vLLM report them before the JSON grammar
masks anything), so at the token where an enum value starts they say how likely each label
was, not only which one the grammar let through.

Example:
    >>> content = '{"label": "bad"}'
    >>> logprobs = [{"token": '{"', "logprob": 0.0}, {"token": "label", "logprob": 0.0},
    ...             {"token": '":', "logprob": 0.0}, {"token": ' "', "logprob": 0.0},
    ...             {"token": "bad", "logprob": -0.2, "top_logprobs": [
    ...                 {"token": "bad", "logprob": -0.2}, {"token": "good", "logprob": -1.8}]},
    ...             {"token": '"}', "logprob": 0.0}]
    >>> dist = label_distribution(logprobs, content, "label", ["good", "partial", "bad"])
    >>> round(dist["bad"], 3)
    0.832
"""

import math
import re
from collections.abc import Sequence
from typing import Any

import orjson

_STRIP = " \t\n\"'"


def token_spans(logprobs: Sequence[dict[str, Any]] | None, content: str
                ) -> list[tuple[int, int]] | None:
    """Character span of each token in ``content``, or None when they do not add up to it.

    Tokens after the content (a stop or EOS token that vLLM's server lists in
    ``logprobs.content`` but leaves out of the text) are ignored.

    Example:
        >>> token_spans([{"token": "ab"}, {"token": "c"}], "abc")
        [(0, 2), (2, 3)]
        >>> token_spans([{"token": "ab"}, {"token": "c"}, {"token": "<|im_end|>"}], "abc")
        [(0, 2), (2, 3)]
    """
    if not logprobs:
        return None
    spans: list[tuple[int, int]] = []
    pieces: list[str] = []
    position = 0
    for entry in logprobs:
        if position == len(content) and spans:
            break  # trailing stop/EOS tokens a server counts but does not print (vLLM serve)
        token = entry.get("token")
        if not isinstance(token, str):
            return None
        spans.append((position, position + len(token)))
        pieces.append(token)
        position += len(token)
    if position != len(content) or "".join(pieces) != content:
        return None
    return spans


def _token_at(spans: list[tuple[int, int]], char: int) -> int | None:
    for index, (start, end) in enumerate(spans):
        if start <= char < end:
            return index
    return None


def _label_of(token: str, labels: Sequence[str]) -> str | None:
    """The label a token votes for: the one it starts (``b`` → bad) or extends (partially)."""
    text = token.strip(_STRIP).lower()
    if not text:
        return None
    matches = [label for label in labels
               if label.lower().startswith(text) or text.startswith(label.lower())]
    return matches[0] if len(matches) == 1 else None


def label_distribution(logprobs: Sequence[dict[str, Any]] | None, content: str, field: str,
                       labels: Sequence[str]) -> dict[str, float] | None:
    """P(label) for each label, read where the value of ``field`` starts in the output.

    The probabilities of the alternatives at that token (case, quote and leading-space
    variants, and prefixes such as ``part`` for ``partial``) are summed per label and
    normalised over the labels. None when the output has no such field, the tokens do not
    line up with the content, or no alternative names a label.

    Args:
        logprobs: the result's token log-probabilities (OpenAI format).
        content: the generated text.
        field: the JSON property holding the label.
        labels: the allowed values.
    """
    spans = token_spans(logprobs, content)
    match = re.search(r'"' + re.escape(field) + r'"\s*:\s*"', content)
    if spans is None or logprobs is None or match is None:
        return None
    index = _token_at(spans, match.end())
    if index is None:
        return None
    entry = logprobs[index]
    prefix = content[spans[index][0]:match.end()]
    candidates = {str(entry["token"]): float(entry.get("logprob", -math.inf))}
    for alt in entry.get("top_logprobs") or []:
        token = str(alt.get("token", ""))
        candidates.setdefault(token, float(alt.get("logprob", -math.inf)))
    mass = dict.fromkeys(labels, 0.0)
    for token, logprob in candidates.items():
        rest = token[len(prefix):] if token.startswith(prefix) else token
        label = _label_of(rest, labels)
        if label is not None and math.isfinite(logprob):
            mass[label] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        return None
    return {label: value / total for label, value in mass.items()}


def mean_logprob(logprobs: Sequence[dict[str, Any]] | None, spans: list[tuple[int, int]],
                 start: int, end: int) -> float | None:
    """Mean log-probability of the tokens overlapping ``content[start:end]``."""
    if logprobs is None or end <= start:
        return None
    values = [float(logprobs[i].get("logprob", -math.inf)) for i, (s, e) in enumerate(spans)
              if s < end and e > start]
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else None


def string_value_logprobs(logprobs: Sequence[dict[str, Any]] | None, content: str,
                          values: Sequence[str]) -> list[float | None]:
    """Mean token log-probability of each string value, found in order in the JSON text.

    Used for InPars-style scores: how likely the generator found each query it wrote.

    Example:
        >>> lp = [{"token": '["', "logprob": 0.0}, {"token": "red", "logprob": -1.0},
        ...       {"token": " shoe", "logprob": -3.0}, {"token": '"]', "logprob": 0.0}]
        >>> string_value_logprobs(lp, '["red shoe"]', ["red shoe"])
        [-2.0]
    """
    spans = token_spans(logprobs, content)
    if spans is None:
        return [None] * len(values)
    scores: list[float | None] = []
    cursor = 0
    for value in values:
        encoded = orjson.dumps(value).decode()[1:-1]
        start = content.find(encoded, cursor)
        if start < 0 or not encoded:
            scores.append(None)
            continue
        cursor = start + len(encoded)
        scores.append(mean_logprob(logprobs, spans, start, cursor))
    return scores
