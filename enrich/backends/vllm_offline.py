"""Offline vLLM engine (``vllm.LLM``) in process: whole chunks of requests per engine call.

vLLM schedules a batch far better than any client can, so requests are handed to
``LLM.chat`` in chunks, with one ``SamplingParams`` per request and
``StructuredOutputsParams(json=schema)`` for the output schema. A chunk runs when it is full
(``batch_size``: the job's concurrency, at least 64) **or** as soon as the request stream has
been quiet for ``quiet_s`` (10 ms). The runner keeps a bounded number of requests outstanding
and closes the stream only when all of them are answered, so a backend that waited for a full
chunk or for the end of the stream would wait forever. The runner hands requests over in bursts
(a whole source batch in one event-loop turn), so 10 ms of quiet means the burst is over; it
costs nothing next to a GPU batch, which takes seconds.

Chunks run in a daemon thread (``daemon_thread.py``): a stopped run exits at once instead of
waiting for the engine call to finish; the rows of an unfinished chunk stay pending and are sent
again on resume. When vLLM rejects a whole call because of one request (a prompt longer than
``max_model_len`` fails every prompt of the call), the chunk is split in halves until the bad
request is alone: only its row fails (``bad_request``), the others are answered in sub-batches.

Token log-probabilities are converted to the OpenAI ``logprobs.content`` shape (see
``vllm_mapping.py``), so bad-match P(label) works as on the HTTP path, and
``score_continuations`` reads prompt log-probabilities (``SamplingParams(prompt_logprobs=0)``)
for query-likelihood scoring. Needs a CUDA GPU and ``pip install 'enrich[vllm]'``.
"""

import logging
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson

from enrich.backends.base import LLMRequest, LLMResult
from enrich.backends.daemon_thread import run_in_daemon_thread
from enrich.backends.vllm_mapping import engine_fields, openai_logprobs, sampling_kwargs
from enrich.backends.vllm_requests import RequestPuller, collect_chunk, error_kind
from enrich.errors import BackendError
from enrich.jobs import BackendSpec

log = logging.getLogger("enrich.backends.vllm")


def import_vllm() -> Any:
    """Import vllm or raise a BackendError that says what to install."""
    try:
        import vllm
        from vllm.sampling_params import StructuredOutputsParams  # noqa: F401 - vLLM >= 0.10.2
    except ImportError as exc:
        raise BackendError(
            f"the vllm backend needs the `vllm` package (≥ 0.12) and a CUDA GPU ({exc})",
            "pip install 'enrich[vllm]' on a GPU machine, or run `vllm serve MODEL` there "
            "and use `--backend openai --server vllm`") from exc
    return vllm


class VLLMOfflineBackend:
    """``vllm.LLM`` in process.

    Args:
        spec: backend section; ``model`` is a Hugging Face id or a local folder.
        concurrency: the job's concurrency; a chunk holds ``max(64, concurrency)`` requests.
        quiet_s: run a partial chunk once no request has arrived for this long.
        max_linger_s: run a partial chunk at the latest this long after its first request.

    Example:
        >>> backend = VLLMOfflineBackend(BackendSpec(kind="vllm",            # doctest: +SKIP
        ...                              model="Qwen/Qwen2.5-7B-Instruct"), concurrency=256)
    """

    kind = "vllm"

    def __init__(self, spec: BackendSpec, concurrency: int = 256, quiet_s: float = 0.010,
                 max_linger_s: float = 0.25):
        self.spec = spec
        self.model = spec.model
        self.batch_size = max(64, concurrency)
        self.concurrency = self.batch_size
        self.quiet_s = quiet_s
        self.max_linger_s = max_linger_s
        self._llm: Any = None
        self._vllm: Any = None
        self._fields: frozenset[str] = frozenset()
        self._kwargs: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._noted: set[str] = set()
        self._engine_lock = threading.Lock()  # one engine call at a time

    async def start(self) -> None:
        """Import vLLM and load the model (raises BackendError with what to do)."""
        if self._llm is not None:
            return
        vllm = import_vllm()
        self._vllm = vllm
        self._fields = engine_fields(vllm.SamplingParams)
        try:
            self._llm = await run_in_daemon_thread(lambda: vllm.LLM(model=self.model),
                                                   name="enrich-vllm-load")
        except Exception as exc:  # noqa: BLE001 - vLLM raises many kinds at start-up
            raise BackendError(f"vLLM could not start `{self.model}`: "
                               f"{type(exc).__name__}: {str(exc)[:300]}",
                               "check the model id or folder and the GPU (`nvidia-smi`)"
                               ) from exc

    async def close(self) -> None:
        self._llm = None

    # -- requests -> engine ---------------------------------------------------------------------
    def _note(self, message: str) -> None:
        if message not in self._noted:
            self._noted.add(message)
            log.warning("vllm backend: %s", message)

    def _kwargs_for(self, params: dict[str, Any]) -> dict[str, Any]:
        cached = self._kwargs.get(id(params))
        if cached is None or cached[0] is not params:
            kwargs, notes = sampling_kwargs(params, self._fields)
            for note in notes:
                self._note(note)
            cached = (params, kwargs)
            if len(self._kwargs) > 1024:  # params are usually one dict shared by every request
                self._kwargs.clear()
            self._kwargs[id(params)] = cached
        return cached[1]

    def sampling_params(self, request: LLMRequest) -> Any:
        """The ``SamplingParams`` of one request (raises what vLLM raises for bad values)."""
        vllm = self._vllm
        structured = None
        if request.schema is not None:
            structured = vllm.sampling_params.StructuredOutputsParams(json=request.schema)
        return vllm.SamplingParams(**self._kwargs_for(request.params),
                                   structured_outputs=structured)

    def _result(self, request: LLMRequest, output: Any, seconds: float, batch: int
                ) -> LLMResult:
        completion = output.outputs[0]
        top_n = int(request.params.get("top_logprobs") or 0)
        logprobs = None
        if completion.logprobs is not None:
            tokenizer = self._llm.get_tokenizer() if self._llm is not None else None
            decode = (lambda tid: tokenizer.decode([tid])) if tokenizer is not None else None
            logprobs = openai_logprobs(completion.token_ids, completion.logprobs,
                                       completion.text, top_n, decode)
        raw = orjson.dumps({"request_id": output.request_id, "text": completion.text,
                            "finish_reason": completion.finish_reason,
                            "stop_reason": completion.stop_reason,
                            "prompt_tokens": len(output.prompt_token_ids or []),
                            "completion_tokens": len(completion.token_ids),
                            "batch": batch}, default=str).decode()
        return LLMResult(request, content=completion.text, raw=raw,
                         prompt_tokens=len(output.prompt_token_ids or []),
                         completion_tokens=len(completion.token_ids), latency_s=seconds,
                         finish_reason=completion.finish_reason, logprobs=logprobs,
                         extra={"batch": batch})

    def _failed(self, request: LLMRequest, exc: BaseException, seconds: float = 0.0
                ) -> LLMResult:
        return LLMResult(request, error_kind=error_kind(exc), latency_s=seconds,
                         error=f"vLLM: {type(exc).__name__}: {str(exc)[:500]}")

    def _call(self, batch: list[tuple[LLMRequest, Any]]) -> list[LLMResult]:
        """One ``LLM.chat`` call; if vLLM rejects it, halves until the bad request is alone."""
        started = time.perf_counter()
        try:
            outputs = self._llm.chat([r.messages for r, _ in batch],
                                     sampling_params=[p for _, p in batch], use_tqdm=False)
        except Exception as exc:  # noqa: BLE001 - sorted into kinds by error_kind
            if len(batch) == 1 or error_kind(exc) == "fatal":
                return [self._failed(r, exc, time.perf_counter() - started) for r, _ in batch]
            middle = len(batch) // 2
            return self._call(batch[:middle]) + self._call(batch[middle:])
        seconds = time.perf_counter() - started
        return [self._result(r, out, seconds, len(batch))
                for (r, _), out in zip(batch, outputs, strict=True)]

    def answer_chunk(self, chunk: list[LLMRequest]) -> list[LLMResult]:
        """Answer a chunk (blocking; runs in a daemon thread), results in chunk order."""
        results: dict[int, LLMResult] = {}
        ready: list[tuple[LLMRequest, Any]] = []
        positions: list[int] = []
        for index, request in enumerate(chunk):
            try:
                ready.append((request, self.sampling_params(request)))
                positions.append(index)
            except Exception as exc:  # noqa: BLE001 - a value vLLM refuses fails this row
                results[index] = self._failed(request, exc)
        if ready:
            with self._engine_lock:
                answered = self._call(ready)
            results.update(zip(positions, answered, strict=True))
        return [results[i] for i in range(len(chunk))]

    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        """Answer requests chunk by chunk; yields each chunk's results when it is done."""
        if self._llm is None:
            raise BackendError("the vllm backend was not started", "call start() first")
        puller = RequestPuller(requests)
        try:
            while chunk := await collect_chunk(puller, self.batch_size, self.quiet_s,
                                               self.max_linger_s):
                results = await run_in_daemon_thread(self.answer_chunk, chunk,
                                                     name="enrich-vllm-chunk")
                for result in results:
                    yield result
        finally:
            puller.close()

    # -- continuation scoring -------------------------------------------------------------------
    async def score_continuations(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        """For each ``(prefix, continuation)``, the log-probabilities of the continuation's
        tokens given the prefix (an empty list for an empty continuation).

        The prefix and the continuation are tokenized separately (the continuation's tokens do
        not depend on how the prefix ends), joined, and sent as token ids with
        ``SamplingParams(max_tokens=1, prompt_logprobs=0)``; a prefix too long for the context
        is cut from the left. A continuation token at position 0 has no log-probability and
        is left out.
        """
        if self._llm is None:
            raise BackendError("the vllm backend was not started", "call start() first")
        from enrich.backends.vllm_scoring import score_pairs

        def run() -> list[list[float]]:
            with self._engine_lock:
                return score_pairs(self._llm, self._vllm, pairs, self.batch_size)

        return await run_in_daemon_thread(run, name="enrich-vllm-score")

