"""Offline vLLM engine (``vllm.LLM``) for GPU machines: whole batches, no HTTP.

vLLM schedules a batch far better than any client can, so this backend collects requests into
chunks of ``batch_size`` and hands each chunk to ``LLM.chat`` with guided JSON decoding. It needs
a CUDA GPU and the ``vllm`` package (``pip install 'enrich[vllm]'``); without them it raises a
clear error at start. On machines without a GPU, run ``vllm serve`` elsewhere and use the
``openai`` backend with ``server: vllm`` instead.
"""

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from enrich.backends.base import LLMRequest, LLMResult
from enrich.errors import BackendError
from enrich.jobs import BackendSpec


class VLLMOfflineBackend:
    """``vllm.LLM`` in process.

    Args:
        spec: backend section; ``model`` is a Hugging Face id or a local folder.
        batch_size: requests handed to vLLM at once.
    """

    kind = "vllm"

    def __init__(self, spec: BackendSpec, batch_size: int = 256):
        self.spec = spec
        self.model = spec.model
        self.batch_size = batch_size
        self._llm: Any = None
        self._vllm: Any = None

    async def start(self) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise BackendError("the vllm backend needs the `vllm` package and a CUDA GPU",
                               "pip install 'enrich[vllm]' on a GPU machine, or use "
                               "`--backend openai` against `vllm serve`") from exc
        self._vllm = vllm
        try:
            self._llm = await asyncio.to_thread(vllm.LLM, model=self.model)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many kinds at start-up
            raise BackendError(f"vLLM could not start `{self.model}`: {exc}",
                               "vLLM needs a supported GPU; check `nvidia-smi`") from exc

    async def close(self) -> None:
        self._llm = None

    def _sampling(self, request: LLMRequest) -> Any:
        vllm = self._vllm
        params = dict(request.params)
        logprobs = params.pop("top_logprobs", None) if params.pop("logprobs", False) else None
        structured = None
        if request.schema is not None:
            structured = vllm.sampling_params.StructuredOutputsParams(json=request.schema)
        return vllm.SamplingParams(**params, logprobs=logprobs, structured_outputs=structured)

    def _run_chunk(self, chunk: list[LLMRequest]) -> list[LLMResult]:
        started = time.perf_counter()
        outputs = self._llm.chat([r.messages for r in chunk],
                                 sampling_params=[self._sampling(r) for r in chunk],
                                 use_tqdm=False)
        elapsed = (time.perf_counter() - started) / max(1, len(chunk))
        results = []
        for request, out in zip(chunk, outputs, strict=True):
            completion = out.outputs[0]
            results.append(LLMResult(
                request, content=completion.text, prompt_tokens=len(out.prompt_token_ids or []),
                completion_tokens=len(completion.token_ids), latency_s=elapsed,
                finish_reason=completion.finish_reason))
        return results

    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        chunk: list[LLMRequest] = []
        async for request in requests:
            chunk.append(request)
            if len(chunk) >= self.batch_size:
                for result in await asyncio.to_thread(self._run_chunk, chunk):
                    yield result
                chunk = []
        if chunk:
            for result in await asyncio.to_thread(self._run_chunk, chunk):
                yield result
