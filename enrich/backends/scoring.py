"""Continuation scoring: log P(continuation tokens | prefix), a backend capability.

Query likelihood (UPR-style relevance, the bad-match task's QL-PMI score, teacher scores for
distillation) needs the log-probability of every token of a *given* text, not a generated one.
That is a capability of the model server, not of a task, so it lives here, behind one small
protocol, with one implementation per backend kind that can offer it:

| backend | how | module |
| --- | --- | --- |
| llama.cpp in process | ``Llama.eval`` with ``logits_all`` | ``llamacpp_scoring.py`` |
| vLLM server | ``/v1/completions``, ``echo`` + ``logprobs`` | ``http_scoring.py`` |
| vLLM offline engine | ``SamplingParams(prompt_logprobs=...)`` | ``vllm_offline.py`` |
| OpenAI's API, llama.cpp servers | not offered (see ``unsupported_reason``) | — |

Example:
    >>> scorer = continuation_scorer(spec, cache_dir=Path(".cache"))   # doctest: +SKIP
    >>> asyncio.run(scorer.score_continuations([("Product: drill\\nQuery:", " cordless")]))
    ... # doctest: +SKIP
    [[-3.1, -0.4]]
"""

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from enrich.errors import ConfigError
from enrich.jobs import BackendSpec


@runtime_checkable
class ContinuationScorer(Protocol):
    """What a backend offers to score given text."""

    async def score_continuations(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        """For each ``(prefix, continuation)``, the log-probabilities of the continuation's
        tokens given the prefix (an empty list for an empty continuation)."""
        ...


class OwnedScorer:
    """A scorer together with what must be started and closed around it.

    Args:
        scorer: the object with ``score_continuations``.
        name: what is stored as the scorer's name (``query_likelihood:<model>``).
        owned: a backend this wrapper started and must close (None: borrowed, left open).
    """

    def __init__(self, scorer: ContinuationScorer, name: str, owned: Any = None):
        self.scorer = scorer
        self.name = name
        self.owned = owned

    async def start(self) -> None:
        if self.owned is not None and hasattr(self.owned, "start"):
            await self.owned.start()

    async def close(self) -> None:
        if self.owned is not None:
            await self.owned.close()

    async def score_continuations(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        return await self.scorer.score_continuations(pairs)


def unsupported_reason(spec: BackendSpec) -> str | None:
    """Why ``spec``'s backend cannot score continuations (None when it can)."""
    if spec.kind != "openai":
        return None
    host = (spec.base_url or "").split("/")[2:3]
    if spec.server == "openai" or (host and host[0].lower().endswith("api.openai.com")):
        return ("OpenAI's API returns no log-probabilities for given text (its completions "
                "endpoint has no `echo` with logprobs for current models)")
    if spec.server == "llamacpp-server":
        return ("llama.cpp's servers give no usable prompt log-probabilities: llama-cpp-python "
                "0.3.36 echoes them shifted by one token for models without a BOS token "
                "(measured: SmolLM2 'less' after ' cord' -13.4 echoed vs -0.08 in process), "
                "and the C++ llama-server does not echo them")
    return None


def continuation_scorer(spec: BackendSpec, *, cache_dir: Path, n_threads: int = 2,
                        live_backend: Any = None, api_key: str | None = None,
                        concurrency: int = 8) -> OwnedScorer:
    """The continuation scorer for a job's backend.

    Args:
        spec: the backend section (an embedded model name, a server, or the offline engine).
        cache_dir: where embedded models live.
        n_threads: llama.cpp threads.
        live_backend: the run's own started backend; reused when it can score (the vLLM
            offline engine must not be loaded twice on one GPU).
        api_key: bearer token for a server.
        concurrency: requests in flight to a server.

    Raises:
        ConfigError: the backend cannot score given text (OpenAI's API).
    """
    reason = unsupported_reason(spec)
    if reason is not None:
        raise ConfigError(f"query likelihood cannot run on this backend: {reason}",
                          "set task_options.query_likelihood.model to an embedded model "
                          "(e.g. smollm2-135m), or serve the model with vLLM or llama.cpp")
    name = f"query_likelihood:{Path(spec.model).stem if spec.kind == 'llamacpp' else spec.model}"
    if live_backend is not None and isinstance(live_backend, ContinuationScorer) \
            and getattr(live_backend, "kind", None) == spec.kind:
        return OwnedScorer(live_backend, name)
    if spec.kind == "llamacpp":
        from enrich.backends.llamacpp_scoring import LlamaCppContinuationScorer
        from enrich.backends.model_files import locate_model

        path = locate_model(spec.model, cache_dir)
        scorer = LlamaCppContinuationScorer(path, n_threads=spec.n_threads or n_threads)
        return OwnedScorer(scorer, f"query_likelihood:{path.stem}", owned=scorer)
    if spec.kind == "openai":
        from enrich.backends.http_scoring import HttpContinuationScorer

        http = HttpContinuationScorer(spec, api_key=api_key, concurrency=concurrency)
        return OwnedScorer(http, name, owned=http)
    from enrich.backends.vllm_offline import VLLMOfflineBackend

    engine = VLLMOfflineBackend(spec)
    return OwnedScorer(engine, name, owned=engine)
