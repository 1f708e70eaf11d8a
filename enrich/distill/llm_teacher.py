"""The LLM as a teacher: query likelihood log P(query | item) (UPR) and its PMI form.

Scores come from the backend's continuation scorer (:func:`enrich.backends.scoring.
continuation_scorer`: the embedded llama.cpp model, a vLLM server or the vLLM offline engine)
through :class:`enrich.tasks.query_likelihood.QueryLikelihood`. Every pair scored is kept in
an optional Parquet cache keyed by model, template, query and item text, so a teacher is paid
for once (scoring is the slow part: ≈ 0.2 s per short pair with SmolLM2-135M on 2 threads).

Example:
    >>> teacher = LLMTeacher("smollm2-135m", template=UPR_TEMPLATE)          # doctest: +SKIP
    >>> teacher.component("ql-pmi").pair_scores([("heat flux", "heat transfer ...")])
    ... # doctest: +SKIP
    array([1.7])
"""

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from enrich.tasks.query_likelihood import DEFAULT_TEMPLATE

UPR_TEMPLATE = "Passage: {item}\nPlease write a question based on this passage:"
TEMPLATES = {"product": DEFAULT_TEMPLATE, "passage": UPR_TEMPLATE}


def pair_key(model: str, template: str, query: str, item: str) -> str:
    """Cache key of one scored pair."""
    raw = "\x1f".join((model, template, query, item)).encode()
    return hashlib.sha256(raw).hexdigest()[:24]


class LLMTeacher:
    """Query-likelihood scores of (query, item) pairs from an LLM, cached.

    Args:
        model: an embedded model name (``enrich models``) or a .gguf path; or a full
            :class:`enrich.jobs.BackendSpec` for a server / the vLLM engine.
        template: the prefix, ``{item}`` replaced by the item text (``passage`` or
            ``product``, or a template of your own).
        max_item_chars: item text is cut to this many characters.
        n_threads: llama.cpp threads.
        cache: Parquet file of scored pairs (read and extended), or None.
        chunk: pairs per scorer call (progress is reported between chunks).
        show_progress: a progress bar over the pairs.
    """

    def __init__(self, model: Any = "smollm2-135m", template: str = "passage",
                 max_item_chars: int = 600, n_threads: int | None = None,
                 cache: Path | None = None, chunk: int = 32, show_progress: bool = True):
        from enrich.jobs import BackendSpec

        self.spec = model if isinstance(model, BackendSpec) else BackendSpec(
            kind="llamacpp", model=str(model), n_threads=n_threads)
        self.template = TEMPLATES.get(template, template)
        self.max_item_chars = max_item_chars
        self.cache = cache
        self.chunk = chunk
        self.show_progress = show_progress
        self._known: dict[str, tuple[float, float]] = self._read_cache()

    @property
    def model_name(self) -> str:
        return Path(self.spec.model).stem if self.spec.kind == "llamacpp" else self.spec.model

    def component(self, kind: str) -> "LLMComponent":
        """The ``ql`` or ``ql-pmi`` scorer backed by this teacher."""
        return LLMComponent(self, kind)

    def scores(self, pairs: list[tuple[str, str]]) -> list[tuple[float, float]]:
        """``(ql_cond, ql_pmi)`` for each ``(query, item text)`` (NaN for an empty query)."""
        cut = [(q, item[:self.max_item_chars]) for q, item in pairs]
        keys = [pair_key(self.model_name, self.template, q, i) for q, i in cut]
        todo = list(dict.fromkeys(k for k in keys if k not in self._known))
        if todo:
            by_key = dict(zip(keys, cut, strict=True))
            self._score([(k, *by_key[k]) for k in todo])
        return [self._known[k] for k in keys]

    def _score(self, asks: list[tuple[str, str, str]]) -> None:
        import asyncio

        from tqdm import tqdm

        from enrich.backends.scoring import continuation_scorer
        from enrich.settings import EnrichSettings
        from enrich.tasks.query_likelihood import QueryLikelihood

        settings = EnrichSettings()
        scorer = continuation_scorer(self.spec, cache_dir=settings.cache_dir,
                                     n_threads=self.spec.n_threads or settings.n_threads)
        ql = QueryLikelihood(scorer, self.template, scorer.name)
        bar = tqdm(total=len(asks), desc=f"LLM teacher ({self.model_name})", unit="pair",
                   disable=not self.show_progress)

        async def run() -> None:
            await scorer.start()
            try:
                for first in range(0, len(asks), self.chunk):
                    part = asks[first:first + self.chunk]
                    found = await ql.pmi_many([(q, i) for _, q, i in part])
                    for (key, _, _), row in zip(part, found, strict=True):
                        self._known[key] = (_num(row["ql_cond"]), _num(row["ql_pmi"]))
                    bar.update(len(part))
            finally:
                await scorer.close()
                bar.close()
                self._write_cache()

        asyncio.run(run())

    def _read_cache(self) -> dict[str, tuple[float, float]]:
        if self.cache is None or not self.cache.is_file():
            return {}
        frame = pd.read_parquet(self.cache)
        return {k: (float(c), float(p)) for k, c, p in
                zip(frame["key"], frame["ql"], frame["ql_pmi"], strict=True)}

    def _write_cache(self) -> None:
        if self.cache is None:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"key": list(self._known), "ql": [v[0] for v in self._known.values()],
                      "ql_pmi": [v[1] for v in self._known.values()]}
                     ).to_parquet(self.cache, index=False)


class LLMComponent:
    """One of the LLM teacher's scores (``ql`` or ``ql-pmi``) as a pair scorer."""

    def __init__(self, teacher: LLMTeacher, kind: str):
        self.teacher = teacher
        self.name = kind
        self._column = 0 if kind == "ql" else 1

    def pair_scores(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        return np.asarray([row[self._column] for row in self.teacher.scores(pairs)],
                          dtype=np.float64)


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)
