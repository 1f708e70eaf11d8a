"""The stand-in's tokenizer: word pieces (a word with the whitespace before it, or one
punctuation mark) and a ChatML chat template, with the methods of vLLM's `TokenizerLike`
(`vllm/tokenizers/protocol.py` in 0.34.0) that the offline entrypoint and its callers use.

It is lossless (`decode(encode(text)) == text`) and every token decodes on its own to its
piece, so decoded tokens concatenate to the text. Ids are handed out as pieces are first seen.
"""

import re
import threading
from collections.abc import Sequence
from typing import Any

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_PIECES = re.compile(r"<\|(?:endoftext|im_start|im_end)\|>|\s*\w+|\s*[^\w\s]|\s+")


class StandinTokenizer:
    """Word-piece tokenizer with ChatML special tokens (no BOS, like Qwen's)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._pieces: list[str] = []
        self._lock = threading.Lock()
        for token in SPECIAL_TOKENS:
            self._id_of(token)

    # -- vocabulary ----------------------------------------------------------------------------
    def _id_of(self, piece: str) -> int:
        found = self._ids.get(piece)
        if found is not None:
            return found
        with self._lock:
            if piece not in self._ids:
                self._ids[piece] = len(self._pieces)
                self._pieces.append(piece)
            return self._ids[piece]

    @property
    def bos_token_id(self) -> int | None:
        return None

    @property
    def eos_token_id(self) -> int:
        return self._ids["<|im_end|>"]

    @property
    def pad_token_id(self) -> int:
        return self._ids["<|endoftext|>"]

    @property
    def all_special_ids(self) -> list[int]:
        return [self._ids[t] for t in SPECIAL_TOKENS]

    @property
    def all_special_tokens(self) -> list[str]:
        return list(SPECIAL_TOKENS)

    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    @property
    def max_chars_per_token(self) -> int:
        return max(len(piece) for piece in self._pieces)

    def __len__(self) -> int:
        return len(self._pieces)

    def get_vocab(self) -> dict[str, int]:
        return dict(self._ids)

    # -- text <-> ids --------------------------------------------------------------------------
    def encode(self, text: str, truncation: bool | None = None, max_length: int | None = None,
               add_special_tokens: bool = True) -> list[int]:
        pieces = _PIECES.findall(text)
        known = self._ids
        ids = [known[piece] if piece in known else self._id_of(piece) for piece in pieces]
        if truncation and max_length is not None:
            ids = ids[:max_length]
        return ids

    def decode(self, ids: Sequence[int] | int, skip_special_tokens: bool = False) -> str:
        if isinstance(ids, int):
            ids = [ids]
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return "".join(self._pieces[i] for i in ids if i not in special)

    def convert_ids_to_tokens(self, ids: Sequence[int],
                              skip_special_tokens: bool = False) -> list[str]:
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._pieces[i] for i in ids if i not in special]

    def piece(self, token_id: int) -> str:
        """The text of one token."""
        return self._pieces[token_id]

    # -- chat ----------------------------------------------------------------------------------
    def apply_chat_template(self, messages: list[Any], tools: list[dict[str, Any]] | None = None,
                            *, tokenize: bool = False, add_generation_prompt: bool = True,
                            continue_final_message: bool = False, **kwargs: Any) -> str | list[int]:
        """ChatML: ``<|im_start|>role\\ncontent<|im_end|>\\n`` per message."""
        if add_generation_prompt and continue_final_message:
            raise ValueError("continue_final_message and add_generation_prompt are not "
                             "compatible. Use continue_final_message when you want the model "
                             "to continue the final message, and add_generation_prompt when "
                             "you want to add a header that will prompt it to start a new "
                             "assistant message instead.")
        parts = []
        for message in messages:
            content = message.get("content")
            if not isinstance(content, str):
                raise ValueError("the vLLM stand-in renders text content only")
            parts.append(f"<|im_start|>{message['role']}\n{content}<|im_end|>\n")
        text = "".join(parts)
        if continue_final_message and text.endswith("<|im_end|>\n"):
            text = text[:-len("<|im_end|>\n")]
        if add_generation_prompt:
            text += "<|im_start|>assistant\n"
        return self.encode(text, add_special_tokens=False) if tokenize else text
