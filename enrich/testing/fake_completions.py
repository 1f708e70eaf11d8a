"""``POST /v1/completions`` for the fake server, shaped like vLLM's echo answer.

vLLM (``entrypoints/openai/serving_completion.py``, ``request_output_to_completion_response``
with ``echo`` and ``logprobs``) returns ``choices[0].logprobs`` as a ``CompletionLogProbs``:
``text_offset`` (character offset of each token in the returned text), ``token_logprobs``
(None for the first prompt token), ``tokens`` and ``top_logprobs`` — the prompt's tokens
first, then the generated ones. This double tokenizes on whitespace boundaries (each token is
a word with its leading spaces) and gives each token a deterministic log-probability that is
higher when the word already appeared earlier in the prompt, so a query whose words are in the
item scores higher than one whose words are not. It says nothing about a real model's numbers:
it checks the wire shape and the token bookkeeping.
"""

import re
from typing import Any

_TOKEN = re.compile(r"\s*\S+|\s+$")


def tokenize(text: str) -> list[str]:
    """Words with their leading whitespace (joined, they give back ``text``)."""
    return _TOKEN.findall(text)


def token_logprob(token: str, before: str) -> float:
    """-0.5 when the word appeared earlier in the text, else -4.0."""
    word = token.strip().lower()
    return -0.5 if word and word in before.lower().split() else -4.0


def completion_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The answer to a completions request (echo with logprobs, or plain text)."""
    prompt = body.get("prompt") or ""
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt else ""
    generated = " ok"
    text = (prompt + generated) if body.get("echo") else generated
    choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "length",
                              "logprobs": None}
    if body.get("logprobs") is not None:
        tokens = tokenize(prompt) + [generated] if body.get("echo") else [generated]
        offsets, values, position = [], [], 0
        for index, token in enumerate(tokens):
            offsets.append(position)
            first_of_prompt = body.get("echo") and index == 0
            values.append(None if first_of_prompt else token_logprob(token, text[:position]))
            position += len(token)
        choice["logprobs"] = {"text_offset": offsets, "token_logprobs": values,
                              "tokens": tokens,
                              "top_logprobs": [None if v is None else {t: v}
                                               for t, v in zip(tokens, values, strict=True)]}
    prompt_tokens = len(tokenize(prompt))
    return {"id": "cmpl-fake", "object": "text_completion", "created": 0, "model": model,
            "choices": [choice],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1,
                      "total_tokens": prompt_tokens + 1}}
