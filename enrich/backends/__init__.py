"""LLM backends behind one async protocol (see ``base.py``).

Only the chosen backend's module is imported, so an HTTP job never imports llama_cpp or vllm.
"""

from pathlib import Path

from enrich.backends.base import Backend, LLMRequest, LLMResult
from enrich.jobs import BackendSpec

__all__ = ["Backend", "LLMRequest", "LLMResult", "create_backend"]


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
