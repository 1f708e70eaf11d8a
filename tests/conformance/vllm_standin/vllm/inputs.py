# Stand-in for vLLM 0.34.0 `vllm/inputs/llm.py` (NOT vLLM; see ../README.md): the two prompt
# shapes `LLM.generate` takes besides a plain string.
"""Schema for input prompts to the LLM API."""

from typing import NotRequired, TypedDict


class TextPrompt(TypedDict):
    """Schema for a text prompt."""

    prompt: str


class TokensPrompt(TypedDict):
    """Schema for a tokenized prompt."""

    prompt_token_ids: list[int]
    prompt: NotRequired[str]


PromptType = str | TextPrompt | TokensPrompt
