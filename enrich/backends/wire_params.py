"""Sampling parameters as each server wants them on the wire.

The job's parameters (and the cache key) stay the same whatever the server; only what is sent
changes. For OpenAI:

- ``max_tokens`` is sent as ``max_completion_tokens`` (``max_tokens`` is deprecated, and the
  reasoning models refuse it: "Unsupported parameter: 'max_tokens' is not supported with this
  model. Use 'max_completion_tokens' instead.");
- reasoning models (the o1/o3/o4 families and gpt-5, except the ``-chat`` variants) refuse a
  non-default ``temperature`` or ``top_p`` and do not return log-probabilities, so those
  parameters are left out (the backend warns once).
"""

import re
from typing import Any

_REASONING_MODEL = re.compile(r"(?:^|[/:])(?:o\d+|gpt-5)(?:[-.:]|$)")
REASONING_REFUSED = ("temperature", "top_p", "logprobs", "top_logprobs", "presence_penalty",
                     "frequency_penalty", "logit_bias")


def is_reasoning_model(model: str) -> bool:
    """OpenAI reasoning models: ``o1``, ``o3-mini``, ``o4-mini-2025-04-16``, ``gpt-5``,
    ``gpt-5-mini``, ``ft:o4-mini:...``; not ``gpt-5-chat-latest`` or ``gpt-4o``."""
    name = model.lower()
    return bool(_REASONING_MODEL.search(name)) and "-chat" not in name


def wire_params(dialect: str, model: str, params: dict[str, Any]
                ) -> tuple[dict[str, Any], list[str]]:
    """The parameters to send, and the names of the ones left out.

    Args:
        dialect: the server's structured-output dialect (``openai`` changes things).
        model: the model name.
        params: the request's sampling parameters.

    Returns:
        (parameters for the request body, names dropped because the model refuses them)
    """
    if dialect != "openai":
        return params, []
    sent = dict(params)
    if "max_tokens" in sent:
        sent["max_completion_tokens"] = sent.pop("max_tokens")
    dropped: list[str] = []
    if is_reasoning_model(model):
        dropped = [name for name in REASONING_REFUSED if name in sent]
        for name in dropped:
            del sent[name]
    return sent, dropped
