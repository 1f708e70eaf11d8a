"""Continuation scoring on vLLM's offline engine: prompt log-probabilities of given text.

``LLM.generate`` with ``SamplingParams(max_tokens=1, prompt_logprobs=0)`` returns, for every
prompt position after the first, ``{token_id: Logprob}`` holding the prompt's own token (vLLM:
``RequestOutput.prompt_logprobs``, first entry None). The prompt is sent as token ids (a
``TokensPrompt``) built from the prefix and the continuation tokenized separately, so where
the continuation starts is known exactly, whatever the tokenizer would merge at the seam.
"""

from typing import Any

from enrich.errors import BackendError


def _max_model_len(llm: Any) -> int | None:
    for owner in (llm, getattr(llm, "llm_engine", None)):
        config = getattr(owner, "model_config", None)
        if config is not None and getattr(config, "max_model_len", None):
            return int(config.max_model_len)
    return None


def build_prompts(tokenizer: Any, pairs: list[tuple[str, str]], max_len: int | None
                  ) -> list[tuple[list[int], int, int] | None]:
    """Per pair, ``(token_ids, continuation_start, continuation_tokens)``, or None for an
    empty continuation. The prefix keeps its special tokens (BOS where the model has one) and
    is cut from the left so prompt + one generated token fit ``max_len``."""
    built: list[tuple[list[int], int, int] | None] = []
    for prefix, continuation in pairs:
        target = tokenizer.encode(continuation, add_special_tokens=False) if continuation else []
        if not target:
            built.append(None)
            continue
        head = list(tokenizer.encode(prefix, add_special_tokens=True)) if prefix else []
        if max_len is not None:
            room = max_len - 1 - len(target)  # one token is generated
            if room < 1:
                target, room = target[:max(1, max_len - 2)], 1
            head = head[-room:] if len(head) > room else head
        built.append((head + list(target), len(head), len(target)))
    return built


def _read(output: Any, start: int, count: int) -> list[float]:
    positions = output.prompt_logprobs or []
    ids = output.prompt_token_ids or []
    values: list[float] = []
    for index in range(start, start + count):
        position = positions[index] if index < len(positions) else None
        entry = position.get(ids[index]) if position else None
        if entry is not None:
            values.append(float(entry.logprob))
    return values


def _generate(llm: Any, params: Any, prompts: list[dict[str, Any]], pair_ids: list[int]
              ) -> list[Any]:
    """``LLM.generate`` on ``prompts``; when vLLM refuses the call, halves it to find the pair
    it refuses and raises a BackendError naming it (``pair_ids``: the pairs' indexes)."""
    try:
        return list(llm.generate(prompts, sampling_params=params, use_tqdm=False))
    except Exception as exc:  # noqa: BLE001 - named below
        if len(prompts) == 1:
            raise BackendError(f"vLLM could not score pair {pair_ids[0]}: "
                               f"{type(exc).__name__}: {str(exc)[:300]}",
                               "shorten the text of that pair") from exc
        middle = len(prompts) // 2
        return (_generate(llm, params, prompts[:middle], pair_ids[:middle])
                + _generate(llm, params, prompts[middle:], pair_ids[middle:]))


def score_pairs(llm: Any, vllm: Any, pairs: list[tuple[str, str]], batch_size: int
                ) -> list[list[float]]:
    """Log-probabilities of each pair's continuation tokens (blocking).

    Args:
        llm: a started ``vllm.LLM``.
        vllm: the vllm module.
        pairs: ``(prefix, continuation)`` texts.
        batch_size: prompts per ``LLM.generate`` call.

    Returns:
        One list per pair (empty for an empty continuation).
    """
    built = build_prompts(llm.get_tokenizer(), pairs, _max_model_len(llm))
    params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
    todo = [(i, item) for i, item in enumerate(built) if item is not None]
    scores: list[list[float]] = [[] for _ in pairs]
    for offset in range(0, len(todo), batch_size):
        part = todo[offset:offset + batch_size]
        prompts = [{"prompt_token_ids": ids} for _, (ids, _, _) in part]
        outputs = _generate(llm, params, prompts, [index for index, _ in part])
        for (index, (_, start, count)), output in zip(part, outputs, strict=True):
            scores[index] = _read(output, start, count)
    return scores
