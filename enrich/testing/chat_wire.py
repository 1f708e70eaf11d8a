"""The chat-completions wire format as the fake server speaks it.

Finding the requested JSON Schema in a request body, request keys, approximate tokens, token
logprobs and the OpenAI-shaped response and error bodies. No aiohttp here.

Logprobs are synthetic but well formed: each token's chosen probability is drawn in
[0.55, 0.995) from the request's seed, and its ``top_logprobs`` list the chosen token first,
then alternatives with halving shares of the remaining mass (so every alternative is less likely
than the chosen token and the probabilities sum to less than 1). Label mode: when the schema's
root object has a string-enum property (the first one, e.g. ``{"label": {"enum": ["yes",
"no"]}}``) or the root is a string enum, that value is emitted as a single token whose
alternatives are the other enum values, in enum order, before any filler tokens. A yes/no judge
reading P(yes) from ``top_logprobs`` therefore gets a probability that varies per request.
"""

import hashlib
import math
import random
import re
from typing import Any

import orjson

MAX_TOP_LOGPROBS = 20
INVALID_JSON_CONTENT = '{"title": oops}'
JSON_OBJECT_DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": 40}},
    "required": ["answer"],
}
_TOKEN_PATTERN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+", re.ASCII)
_FILLER_TOKENS = (
    " the", ",", '"', ":", " a", "}", "{", " and", ".", "-", " of", " to", " in", "]", "[",
    " is", " for", " with", " on", " or", " at", " by",
)
_DRAW_SCALE = float(1 << 64)


def find_response_schema(body: dict[str, Any]) -> tuple[Any | None, str]:
    """Return (JSON Schema or None, how it was sent) for a chat-completions request body.

    Recognises vLLM >= 0.12 ``structured_outputs={"json": schema}``, older vLLM
    ``guided_json``, OpenAI ``response_format={"type": "json_schema", "json_schema": {"schema":
    ...}}`` and llama.cpp ``response_format={"type": "json_object", "schema": ...}`` (or its
    top-level ``json_schema``). ``json_object`` without a schema gets a small object schema.
    Schemas sent as JSON text are parsed.
    """
    structured = body.get("structured_outputs")
    if isinstance(structured, dict) and structured.get("json") is not None:
        return _as_schema(structured["json"]), "structured_outputs"
    if body.get("guided_json") is not None:
        return _as_schema(body["guided_json"]), "guided_json"
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            specification = response_format.get("json_schema") or {}
            return _as_schema(specification.get("schema") or {}), "json_schema"
        if kind == "json_object":
            schema = response_format.get("schema")
            if schema is None:
                return JSON_OBJECT_DEFAULT_SCHEMA, "json_object"
            return _as_schema(schema), "json_object"
    if body.get("json_schema") is not None:
        return _as_schema(body["json_schema"]), "json_schema_top_level"
    return None, "text"


def _as_schema(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def request_key(body: dict[str, Any], header_value: str | None) -> str:
    """The client's ``X-Enrich-Key`` header, else sha256 of canonical JSON [model, messages]."""
    if header_value:
        return header_value
    canonical = orjson.dumps([body.get("model"), body.get("messages")], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def stable_seed(*parts: object) -> int:
    """A 64-bit integer determined by ``parts`` (stable across processes, unlike ``hash``)."""
    text = ":".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def uniform_draw(*parts: object) -> float:
    """A number in [0, 1) determined by ``parts``."""
    return stable_seed(*parts) / _DRAW_SCALE


def split_tokens(text: str) -> list[str]:
    """Approximate tokens: words and punctuation marks, each with its leading whitespace."""
    return _TOKEN_PATTERN.findall(text)


def prompt_token_count(messages: Any) -> int:
    """Approximate prompt tokens: tokens of every text part plus 3 per message."""
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(_TOKEN_PATTERN.findall(content))
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(_TOKEN_PATTERN.findall(part["text"]))
        total += 3
    return total


def label_span(
    content: str, instance: Any, label: tuple[str | None, list[str]]
) -> tuple[int, int] | None:
    """Where the label value sits in ``content`` (start, end of the text inside its quotes)."""
    name, values = label
    if name is None:
        value = instance
    else:
        value = instance.get(name) if isinstance(instance, dict) else None
    if not isinstance(value, str) or value not in values:
        return None
    encoded_value = orjson.dumps(value).decode()
    needle = encoded_value if name is None else orjson.dumps(name).decode() + ":" + encoded_value
    start = content.find(needle)
    if start < 0:
        return None
    value_start = start + len(needle) - len(encoded_value) + 1
    return value_start, value_start + len(encoded_value) - 2


def build_logprobs(
    content: str,
    top_n: int,
    seed: int,
    label_at: tuple[int, int] | None = None,
    label_values: list[str] | None = None,
) -> dict[str, Any]:
    """Return ``choices[i].logprobs`` for ``content`` (see the module docstring for the model)."""
    rng = random.Random(seed)
    label_index = -1
    if label_at is None:
        tokens = split_tokens(content)
    else:
        start, end = label_at
        tokens = split_tokens(content[:start])
        label_index = len(tokens)
        tokens += [content[start:end], *split_tokens(content[end:])]
    label_alternatives = [orjson.dumps(value).decode()[1:-1] for value in label_values or []]
    entries = [
        _token_logprob(token, top_n, rng, label_alternatives if index == label_index else [])
        for index, token in enumerate(tokens)
    ]
    return {"content": entries, "refusal": None}


def _token_logprob(
    token: str, top_n: int, rng: random.Random, alternatives: list[str]
) -> dict[str, Any]:
    chosen_probability = rng.uniform(0.55, 0.995)
    logprob = math.log(chosen_probability)
    token_bytes = list(token.encode())
    top: list[dict[str, Any]] = []
    if top_n > 0:
        top.append({"token": token, "logprob": logprob, "bytes": token_bytes})
        others = [other for other in alternatives if other != token]
        others += [filler for filler in _FILLER_TOKENS if filler != token and filler not in others]
        share = (1.0 - chosen_probability) / 2
        for other in others[: top_n - 1]:
            top.append({"token": other, "logprob": math.log(share), "bytes": list(other.encode())})
            share /= 2
    return {"token": token, "logprob": logprob, "bytes": token_bytes, "top_logprobs": top}


def choice_body(
    index: int, content: str, finish_reason: str, logprobs: dict[str, Any] | None
) -> dict[str, Any]:
    """One entry of ``choices`` in a ChatCompletion."""
    return {
        "index": index,
        "message": {"role": "assistant", "content": content},
        "logprobs": logprobs,
        "finish_reason": finish_reason,
    }


def chat_completion_body(
    completion_id: str,
    created: int,
    model: str,
    choices: list[dict[str, Any]],
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, Any]:
    """An OpenAI ChatCompletion response body."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(message: str, error_type: str, code: int) -> bytes:
    """An OpenAI-style error body, as vLLM sends it: ``{"error": {message, type, code}}``."""
    return orjson.dumps({"error": {"message": message, "type": error_type, "code": code}})
