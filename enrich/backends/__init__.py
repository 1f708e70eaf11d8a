"""LLM backends behind one async protocol (see ``base.py``).

Only the chosen backend's module is imported, so an HTTP job never imports llama_cpp or vllm.
"""

import importlib
import threading
from pathlib import Path

from enrich.backends.base import Backend, LLMRequest, LLMResult
from enrich.jobs import BackendSpec

__all__ = ["Backend", "LLMRequest", "LLMResult", "create_backend", "preload"]

_MODULES = {"openai": "enrich.backends.openai_http"}


def preload(spec: BackendSpec) -> threading.Thread | None:
    """Start importing the HTTP backend's module (aiohttp: about 0.15 s) in a daemon thread.

    ``enrich run`` calls it before opening the store: DuckDB releases the GIL while it creates
    or opens the file, so the import overlaps with that instead of delaying the first request
    after it. A later ``create_backend`` imports the same module and waits on the import lock
    if it is not finished. Only the HTTP backend: the embedded and vLLM modules import lazily
    what is heavy themselves.

    Returns:
        The thread (for tests), or None when there is nothing to preload.
    """
    module = _MODULES.get(spec.kind)
    if module is None:
        return None
    thread = threading.Thread(target=_import_quietly, args=(module,), daemon=True,
                              name="enrich-preload")
    thread.start()
    return thread


def _import_quietly(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001, S110 - create_backend imports it again and reports
        pass


def create_backend(spec: BackendSpec, *, concurrency: int, cache_dir: Path, n_threads: int = 2,
                   logprobs: bool = False) -> Backend:
    """Build the backend a job asks for (not started yet).

    Args:
        spec: the job's backend section.
        concurrency: requests in flight (HTTP backends).
        cache_dir: models and checksum markers (embedded backend).
        n_threads: llama.cpp threads when the spec does not set them.
        logprobs: the job asks for token log-probabilities.
    """
    if spec.kind == "openai":
        from enrich.backends.openai_http import OpenAICompatibleBackend, read_api_key

        return OpenAICompatibleBackend(spec, concurrency, read_api_key(spec.api_key_env))
    if spec.kind == "vllm":
        from enrich.backends.vllm_offline import VLLMOfflineBackend

        return VLLMOfflineBackend(spec, concurrency=concurrency)
    from enrich.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(spec, cache_dir, n_threads=n_threads, logits_all=logprobs)
