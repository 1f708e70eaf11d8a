"""Translations between the job's OpenAI-style request and vLLM's offline engine.

Two directions, both pure functions (no vLLM import), so they are tested without a GPU:

- **Parameters in.** A job's ``params`` use OpenAI chat-completions names. vLLM's
  ``SamplingParams`` is a struct that raises ``TypeError`` for a keyword it does not know, and
  two OpenAI keys mean something else there: OpenAI's ``logprobs`` is a switch and
  ``top_logprobs`` a count, vLLM's ``logprobs`` is the count. :func:`sampling_kwargs` maps them
  the way vLLM's own server does (``logprobs: true, top_logprobs: N`` → ``logprobs=N``;
  ``logprobs: true`` alone → ``logprobs=0``, the sampled token only), renames
  ``max_completion_tokens``, passes what ``SamplingParams`` has a field for, and drops the rest
  with a note saying so (``top_logprobs`` without ``logprobs: true`` is dropped: OpenAI-style
  servers reject it).
- **Log-probabilities out.** vLLM returns, per generated token, ``{token_id: Logprob}`` (the
  sampled token first, then the top alternatives). :func:`openai_logprobs` turns that into the
  OpenAI ``logprobs.content`` list the HTTP path stores — ``{"token", "logprob",
  "top_logprobs": [{"token", "logprob"}]}`` per token — so ``enrich.tasks.logprobs`` reads
  P(label) the same way for every backend. Tokens after the text (the EOS token vLLM counts in
  ``token_ids`` but leaves out of ``text``) are dropped, so the tokens spell the text.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

# SamplingParams fields of vLLM (0.10-0.34) that carry the same meaning as the OpenAI key
KNOWN_FIELDS = frozenset({
    "n", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature",
    "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "max_tokens",
    "min_tokens", "skip_special_tokens", "spaces_between_special_tokens",
    "include_stop_str_in_output", "logit_bias", "allowed_token_ids", "bad_words"})
RENAMED = {"max_completion_tokens": "max_tokens"}
_OPENAI_LOGPROBS = ("logprobs", "top_logprobs")


def engine_fields(sampling_params_cls: Any) -> frozenset[str]:
    """The keyword names ``SamplingParams`` accepts (its struct fields when it says)."""
    fields = getattr(sampling_params_cls, "__struct_fields__", None)
    return frozenset(fields) if fields else KNOWN_FIELDS


def sampling_kwargs(params: Mapping[str, Any], fields: frozenset[str] = KNOWN_FIELDS
                    ) -> tuple[dict[str, Any], list[str]]:
    """``SamplingParams`` keywords for a request's OpenAI-style ``params``.

    Args:
        params: the request's sampling parameters (job over prompt defaults).
        fields: the keywords the engine's ``SamplingParams`` accepts.

    Returns:
        ``(kwargs, notes)``: the keywords to pass, and one line per parameter that was
        dropped (what was done and what to do instead).

    Example:
        >>> sampling_kwargs({"temperature": 0.0, "logprobs": True, "top_logprobs": 5})[0]
        {'temperature': 0.0, 'logprobs': 5}
    """
    kwargs: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in params.items():
        if key in _OPENAI_LOGPROBS or value is None:
            continue
        name = RENAMED.get(key, key)
        if name in fields and name not in _OPENAI_LOGPROBS:
            kwargs[name] = value
        else:
            notes.append(f"parameter `{key}` has no counterpart in vLLM's offline engine and "
                         "is not sent (remove it from the job or prompt params)")
    top = params.get("top_logprobs")
    if params.get("logprobs"):
        kwargs["logprobs"] = int(top or 0)
    elif top:
        notes.append("`top_logprobs` without `logprobs: true` is not sent (OpenAI-style "
                     "servers reject it); add `logprobs: true` to get token log-probabilities")
    return kwargs, notes


def _ranked(position: Mapping[int, Any]) -> list[tuple[int, Any]]:
    """A position's ``(token_id, Logprob)`` pairs, most likely first."""
    return sorted(position.items(),
                  key=lambda item: (item[1].rank is None, item[1].rank or 0,
                                    -float(item[1].logprob)))


def _token_text(token_id: int, logprob: Any, decode: Callable[[int], str] | None) -> str:
    text = getattr(logprob, "decoded_token", None)
    if text is None and decode is not None:
        text = decode(token_id)
    return text if text is not None else ""


def _clip(value: float) -> float:
    return max(float(value), -9999.0)  # vLLM's server clips -inf the same way


def openai_logprobs(token_ids: Sequence[int], positions: Iterable[Mapping[int, Any] | None],
                    text: str, top_n: int, decode: Callable[[int], str] | None = None
                    ) -> list[dict[str, Any]]:
    """OpenAI ``logprobs.content`` entries for one vLLM completion.

    Args:
        token_ids: the completion's ``token_ids``.
        positions: its ``logprobs`` (one ``{token_id: Logprob}`` per token, or None).
        text: its ``text``.
        top_n: alternatives to list per token (the job's ``top_logprobs``).
        decode: turns a token id into its text when vLLM gave none.

    Returns:
        One ``{"token", "logprob", "top_logprobs"}`` per token of ``text``.
    """
    entries: list[dict[str, Any]] = []
    for token_id, position in zip(token_ids, positions, strict=False):
        chosen = position.get(token_id) if position else None
        top = [{"token": _token_text(tid, lp, decode), "logprob": _clip(lp.logprob)}
               for tid, lp in _ranked(position or {})[:max(0, top_n)]]
        entries.append({"token": _token_text(token_id, chosen, decode),
                        "logprob": _clip(chosen.logprob) if chosen is not None else -9999.0,
                        "top_logprobs": top})
    return trim_to_text(entries, text)


def trim_to_text(entries: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """``entries`` without the tokens past the end of ``text`` (a stop or EOS token that vLLM
    counts but does not print); unchanged when the tokens do not spell ``text``."""
    position = 0
    for index, entry in enumerate(entries):
        if position == len(text) and text.startswith(
                "".join(e["token"] for e in entries[:index])):
            return entries[:index]
        position += len(entry["token"])
    return entries
