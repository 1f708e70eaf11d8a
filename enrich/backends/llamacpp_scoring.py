"""Continuation scoring in process with llama.cpp (logits kept for every position).

The model is loaded with ``logits_all=True`` (llama-cpp-python only allows that at load time),
the prefix and the continuation are tokenized separately (so the continuation's tokens are the
same whatever the prefix ends with), evaluated together, and each continuation token's
log-softmax is read from the row of the position before it. Measured with SmolLM2-135M on 2
threads: ≈ 0.2 s per Home Depot pair (DESIGN facts, docs/architecture.md).
"""

import asyncio
from pathlib import Path
from typing import Any


class LlamaCppContinuationScorer:
    """``score_continuations`` on an embedded GGUF model.

    Args:
        model_path: the GGUF file.
        n_threads: CPU threads.
        n_ctx: context size (prefix + continuation must fit; the prefix is cut from the left).
    """

    kind = "llamacpp"

    def __init__(self, model_path: Path, n_threads: int = 2, n_ctx: int = 512):
        self.model_path = Path(model_path)
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self._llm: Any = None

    async def start(self) -> None:
        if self._llm is None:
            self._llm = await asyncio.to_thread(self._load)

    def _load(self) -> Any:
        from enrich.backends.llamacpp import import_llama_cpp

        llama_cpp = import_llama_cpp()
        return llama_cpp.Llama(model_path=str(self.model_path), n_ctx=self.n_ctx,
                               n_threads=self.n_threads, logits_all=True, verbose=False)

    async def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def score_one(self, prefix: str, continuation: str) -> list[float]:
        """Log-probabilities of ``continuation``'s tokens after ``prefix`` (blocking)."""
        import numpy as np

        if self._llm is None:
            self._llm = self._load()
        llm = self._llm
        target = llm.tokenize(continuation.encode(), add_bos=False) if continuation else []
        if not target:
            return []
        head = llm.tokenize(prefix.encode(), add_bos=True)
        limit = llm.n_ctx() - len(target)
        if limit < 1:
            target, limit = target[:llm.n_ctx() - 1], 1
        head = head[-limit:] if len(head) > limit else head
        llm.reset()
        llm.eval(head + target)
        rows = np.asarray(llm.scores[len(head) - 1:len(head) + len(target) - 1],
                          dtype=np.float64)
        top = rows.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
        picked = rows[np.arange(len(target)), target]
        return [float(v) for v in picked - log_norm]

    async def score_continuations(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        """For each ``(prefix, continuation)``, the continuation's token log-probabilities."""
        def run() -> list[list[float]]:
            return [self.score_one(prefix, cont) for prefix, cont in pairs]

        return await asyncio.to_thread(run)
