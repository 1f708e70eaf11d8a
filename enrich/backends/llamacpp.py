"""Embedded backend: llama.cpp in process (llama-cpp-python), the offline default.

One model, one thread of generation: requests are answered one after another in a worker
thread so the event loop stays free to store results. Structured output uses a grammar built
from the JSON Schema (cached per schema). Token log-probabilities need the model to keep logits
for every position (``logits_all``), which llama-cpp-python only allows at load time, so the
model is loaded that way only when the job asks for logprobs.
"""

import threading
import time
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from enrich.backends.base import LLMRequest, LLMResult
from enrich.backends.daemon_thread import run_in_daemon_thread
from enrich.backends.model_files import locate_model
from enrich.errors import BackendError
from enrich.jobs import BackendSpec

_PASSED_PARAMS = ("temperature", "top_p", "max_tokens", "seed", "stop", "logprobs",
                  "top_logprobs")


def import_llama_cpp() -> Any:
    """Import llama_cpp or raise a BackendError that says how to install it portably."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendError(
            "the embedded backend needs llama-cpp-python, which is not installed",
            "install it: pip install 'enrich[llamacpp]' (in a checkout, `make setup` builds it "
            "with portable CPU flags)",
        ) from exc
    return llama_cpp


def install_abort_hook(llama_cpp: Any, llama: Any, flag: threading.Event) -> Any:
    """Make ``llama_decode`` give up as soon as ``flag`` is set (llama.cpp checks the abort
    callback between the nodes of its compute graph), so a stopped run does not wait for the
    answer being generated: the call then fails, and the caller sees the flag.

    Exceptions cannot stop llama.cpp from Python (they are swallowed inside its C callbacks),
    hence the C-level hook. Returns the callback object, which must outlive the model.
    """
    hook = llama_cpp.ggml_abort_callback(lambda _data: flag.is_set())
    llama_cpp.llama_set_abort_callback(llama._ctx.ctx, hook, None)
    return hook


class _Aborted(Exception):
    """Raised inside llama.cpp's sampling loop to end a generation when the run stops."""


class LlamaCppBackend:
    """llama.cpp in process.

    Args:
        spec: the job's backend section (model name or .gguf path, n_ctx, n_threads).
        cache_dir: where assembled models and checksum markers live.
        n_threads: CPU threads when the spec does not set them.
        logits_all: keep logits for every position (needed for logprobs).
    """

    kind = "llamacpp"

    def __init__(self, spec: BackendSpec, cache_dir: Path, n_threads: int = 2,
                 logits_all: bool = False):
        self.spec = spec
        self.model = spec.model
        self.model_path = locate_model(spec.model, cache_dir)
        self.n_threads = spec.n_threads or n_threads
        self.logits_all = logits_all
        self._llama: Any = None
        self._grammars: dict[int, Any] = {}
        self._abort = threading.Event()
        self._abort_hook: Any = None  # the C callback object (kept alive while the model is)

    async def start(self) -> None:
        llama_cpp = import_llama_cpp()

        def load() -> Any:
            return llama_cpp.Llama(model_path=str(self.model_path), n_ctx=self.spec.n_ctx,
                                   n_threads=self.n_threads, logits_all=self.logits_all,
                                   verbose=False)

        try:
            self._llama = await run_in_daemon_thread(load, name="enrich-llamacpp-load")
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp could not load {self.model_path}: {exc}",
                               "check the file is a GGUF model; if llama.cpp crashes on this CPU, "
                               "rebuild it portably: CMAKE_ARGS=-DGGML_NATIVE=OFF pip install "
                               "--force-reinstall --no-cache-dir llama-cpp-python==0.3.36"
                               ) from exc
        self._abort_hook = install_abort_hook(llama_cpp, self._llama, self._abort)

    async def close(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None

    def _grammar(self, schema: dict[str, Any] | None) -> Any:
        if schema is None:
            return None
        grammar = self._grammars.get(id(schema))
        if grammar is None:
            llama_cpp = import_llama_cpp()
            grammar = llama_cpp.LlamaGrammar.from_json_schema(
                orjson.dumps(schema).decode(), verbose=False)
            self._grammars[id(schema)] = grammar
        return grammar

    def abort(self) -> None:
        """Stop generating now (the run was stopped and dropped what is in flight): the
        answer being generated ends at its next token, and nothing new starts."""
        self._abort.set()

    def complete(self, request: LLMRequest) -> LLMResult:
        """Answer one request (blocking; runs in a worker thread)."""
        kwargs = {k: request.params[k] for k in _PASSED_PARAMS if k in request.params}
        if kwargs.get("logprobs") and not self.logits_all:
            kwargs.pop("logprobs")
            kwargs.pop("top_logprobs", None)
        started = time.perf_counter()
        try:
            if self._abort.is_set():
                raise _Aborted
            response = self._llama.create_chat_completion(
                messages=request.messages, grammar=self._grammar(request.schema), **kwargs)
        except _Aborted:
            return LLMResult(request, error_kind="aborted", error="the run was stopped",
                             latency_s=time.perf_counter() - started)
        except (ValueError, RuntimeError) as exc:
            if self._abort.is_set():  # llama_decode returned 2: the abort callback said stop
                return LLMResult(request, error_kind="aborted", error="the run was stopped",
                                 latency_s=time.perf_counter() - started)
            return LLMResult(request, error_kind="backend_error", error=str(exc)[:300],
                             latency_s=time.perf_counter() - started)
        if kwargs.get("logprobs"):  # logprobs come as numpy floats: make them plain JSON
            response = orjson.loads(orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY))
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        logprobs = (choice.get("logprobs") or {}).get("content")
        return LLMResult(
            request, content=choice["message"].get("content"),
            raw=orjson.dumps(response).decode(),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=time.perf_counter() - started,
            finish_reason=choice.get("finish_reason"), logprobs=logprobs)

    async def generate(self, requests: AsyncIterable[LLMRequest]) -> AsyncIterator[LLMResult]:
        """Answer requests one at a time in a worker thread, in arrival order."""
        if self._llama is None:
            raise BackendError("the llama.cpp backend was not started", "call start() first")
        async for request in requests:
            if self._abort.is_set():
                return
            yield await run_in_daemon_thread(self.complete, request, name="enrich-llamacpp")
