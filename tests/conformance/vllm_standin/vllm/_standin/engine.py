"""The stand-in's fake model: deterministic answers, token counts and log-probabilities.

- **Answers**: JSON valid for the request's `structured_outputs.json` schema (built by
  `enrich.testing.schema_instances`, seeded by the prompt text), one of `choice`, or a short
  sentence without constraint; cut at `max_tokens` (finish_reason "length") or ended with the
  EOS token (finish_reason "stop"; EOS is in `token_ids`, not in `text`, as in vLLM).
- **Sample log-probabilities**: the sampled token is rank 1; its runners-up are the other
  values of a schema enum where a label is written (so P(label) can be read), then case
  variants and filler tokens. Values come from a softmax with a fixed "rest of the vocabulary"
  mass, so they are proper log-probabilities.
- **Prompt log-probabilities**: a word is likely (≈ -0.5..-1) when it appeared earlier in the
  prompt and unlikely (≈ -4..-6) otherwise, so query likelihood rewards overlap.
"""

import hashlib
import json
import math
import zlib
from typing import Any

from enrich.testing.schema_instances import SchemaInstanceGenerator
from vllm._standin.tokenizer import StandinTokenizer
from vllm.exceptions import VLLMValidationError
from vllm.logprobs import Logprob, PromptLogprobs, SampleLogprobs
from vllm.outputs import CompletionOutput
from vllm.sampling_params import SamplingParams

_FILLERS = (" the", ",", "\n", " a", ".", " and", " of", " to")


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) (the same in every process)."""
    return zlib.crc32("|".join(map(str, parts)).encode()) / 2**32


def _enum_strings(schema: Any, found: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "enum" and isinstance(value, list):
                found.update(v for v in value if isinstance(v, str))
            else:
                _enum_strings(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _enum_strings(value, found)
    return found


class FakeEngine:
    """Answers requests for one `LLM`.

    Args:
        tokenizer: the stand-in tokenizer (shared with `LLM.get_tokenizer()`).
        max_model_len: context length (generation stops there).
    """

    def __init__(self, tokenizer: StandinTokenizer, max_model_len: int):
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len
        self._schemas: dict[str, tuple[SchemaInstanceGenerator, set[str]]] = {}
        self._answers: dict[tuple[str, int], str] = {}

    # -- answers -------------------------------------------------------------------------------
    def _schema(self, spec: str | dict) -> tuple[str, SchemaInstanceGenerator, set[str]]:
        key = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True)
        cached = self._schemas.get(key)
        if cached is None:
            schema = json.loads(key)
            cached = (SchemaInstanceGenerator(schema), _enum_strings(schema, set()))
            self._schemas[key] = cached
        return key, *cached

    def _json_answer(self, spec: str | dict, seed: str) -> tuple[str, set[str]]:
        """One of 256 instances of the schema, chosen by the prompt (keeps 5,000-row jobs
        fast: building an instance costs ~0.5 ms)."""
        key, generator, enums = self._schema(spec)
        variant = int(seed, 16) % 256
        text = self._answers.get((key, variant))
        if text is None:
            text = json.dumps(generator.valid_instance(variant), ensure_ascii=False)
            self._answers[(key, variant)] = text
        return text, enums

    def answer_text(self, prompt: str, params: SamplingParams) -> tuple[str, set[str]]:
        """The full answer (before ``max_tokens``) and the enum values it may contain."""
        seed = hashlib.blake2b(prompt.encode(), digest_size=8).hexdigest()
        structured = params.structured_outputs
        if structured is None:
            return f"A stand-in answer ({seed[:6]}).", set()
        if structured.json is not None:
            return self._json_answer(structured.json, seed)
        if structured.choice:
            return structured.choice[int(seed, 16) % len(structured.choice)], set(
                structured.choice)
        if structured.json_object:
            return json.dumps({"answer": f"stand-in {seed[:6]}"}), set()
        raise VLLMValidationError("the vLLM stand-in generates json, choice and json_object "
                                  "structured outputs only")

    def complete(self, prompt: str, prompt_len: int, params: SamplingParams, index: int = 0
                 ) -> CompletionOutput:
        """One completion of ``prompt`` (``prompt_len`` tokens) under ``params``."""
        text, enums = self.answer_text(prompt + (f"#{index}" if index else ""), params)
        tok = self.tokenizer
        ids = tok.encode(text, add_special_tokens=False)
        room = self.max_model_len - prompt_len
        limit = min(params.max_tokens or room, room)
        finish, stop_reason = "stop", None
        for stop in params.stop or []:
            cut = text.find(stop)
            if cut >= 0:
                kept = text[:cut + len(stop)] if params.include_stop_str_in_output else text[:cut]
                text, ids, stop_reason = kept, tok.encode(kept, add_special_tokens=False), stop
                break
        if len(ids) > limit:
            ids, finish, stop_reason = ids[:limit], "length", None
            text = tok.decode(ids)
        elif stop_reason is None and not params.ignore_eos:
            ids = [*ids, tok.eos_token_id]  # EOS is generated, counted, and not in the text
        logprobs = None if params.logprobs is None else self.sample_logprobs(
            ids, enums, params.logprobs, prompt)
        cumulative = None if logprobs is None else sum(
            pos[t].logprob for pos, t in zip(logprobs, ids, strict=True))
        return CompletionOutput(index=index, text=text, token_ids=ids,
                                cumulative_logprob=cumulative, logprobs=logprobs,
                                finish_reason=finish, stop_reason=stop_reason)

    # -- log-probabilities ---------------------------------------------------------------------
    def _candidates(self, piece: str, enums: set[str]) -> list[str]:
        word = piece.strip()
        lead = piece[:len(piece) - len(piece.lstrip())]
        options = [lead + v for v in sorted(enums) if word in enums and v != word]
        options += [lead + word.capitalize(), lead + word.upper(), *_FILLERS]
        seen, out = {piece}, []
        for option in options:
            if option and option not in seen:
                seen.add(option)
                out.append(option)
        return out[:8]

    def sample_logprobs(self, ids: list[int], enums: set[str], top: int, salt: str
                        ) -> SampleLogprobs:
        """Per generated token: ``{token_id: Logprob}``, sampled token first (rank 1), then
        up to ``top`` runners-up (``-1``: every candidate)."""
        tok = self.tokenizer
        positions: SampleLogprobs = []
        for i, token_id in enumerate(ids):
            piece = tok.piece(token_id)
            others = self._candidates(piece, enums)
            scores = [2.0 + _unit(salt, i, piece)]
            scores += [scores[0] - 0.9 * (j + 1) - 0.3 * _unit(salt, i, o)
                       for j, o in enumerate(others)]
            norm = math.log(sum(math.exp(s) for s in scores) + 1.0)  # + the rest of the vocab
            position = {token_id: Logprob(scores[0] - norm, 1, piece)}
            count = len(others) if top == -1 else max(0, top - 1)
            for rank, (other, score) in enumerate(zip(others[:count], scores[1:], strict=False),
                                                  start=2):
                position[tok._id_of(other)] = Logprob(score - norm, rank, other)
            positions.append(position)
        return positions

    def prompt_logprobs(self, ids: list[int], top: int) -> PromptLogprobs:
        """``[None]`` then, per later prompt token, ``{token_id: Logprob}`` (the prompt's own
        token first) and up to ``top`` alternatives."""
        tok = self.tokenizer
        special = set(tok.all_special_ids)
        positions: PromptLogprobs = [None]
        seen: set[str] = set()
        for i, token_id in enumerate(ids):
            piece = tok.piece(token_id)
            word = piece.strip().lower()
            if i > 0:
                u = _unit(i, piece, len(seen))
                if token_id in special:
                    logprob, rank = -0.01, 1
                elif word in seen:
                    logprob, rank = -0.5 - 0.5 * u, 1
                else:
                    logprob, rank = -4.0 - 2.0 * u, 2 + int(40 * u)
                position = {token_id: Logprob(logprob, rank, piece)}
                count = len(_FILLERS) if top == -1 else top
                for j, filler in enumerate(f for f in _FILLERS[:count] if f != piece):
                    position.setdefault(tok._id_of(filler),
                                        Logprob(logprob - 1.0 - j, rank + 1 + j, filler))
                positions.append(position)
            if word:
                seen.add(word)
        return positions
