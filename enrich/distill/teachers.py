"""Teacher scores: a graded relevance for (query, item) pairs, to distil from (GPL-style).

A teacher scores *groups*: one query with the candidate items to grade (a first stage's top
30 for evaluation; a positive and its mined negatives for training). Higher = more relevant.

=============  ========================================================================
``bm25``       BM25 score (bm25s, Lucene, stop words, Snowball) over the whole corpus
``biencoder``  cosine similarity under the base bi-encoder (all-MiniLM-L6-v2)
``ql``         the LLM's mean log P(query | item) (UPR, :mod:`enrich.distill.llm_teacher`)
``ql-pmi``     the same minus the mean log P(query | empty item) (PMI-normalised)
``rrf``        reciprocal-rank fusion of ``bm25`` and ``biencoder`` (k = 60)
``zsum``       sum of standardised ``bm25`` and ``biencoder`` scores
=============  ========================================================================

Combinations of any base teachers are written ``rrf:bm25,biencoder,ql-pmi`` or
``zsum:biencoder,ql-pmi``. Ranks (RRF) and standardisation (z-sum) of ``bm25`` and
``biencoder`` are taken over the whole corpus for that query (top 100), so a pair's score does
not depend on which other items share its group; the LLM scores only the pairs asked for, so
its ranks are within the group and its scores are standardised over every pair it scored.

Example:
    >>> teacher = build_teacher("rrf", {"a": "shock waves in nozzles", "b": "heat flux"})
    >>> [round(float(s), 4) for s in teacher.score_groups([("nozzle shock", ["a", "b"])])[0]]
    [0.0328, 0.0323]
"""

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from enrich.errors import ConfigError

BASE_TEACHERS = ("bm25", "biencoder", "ql", "ql-pmi")
SHORTCUTS = {"rrf": "rrf:bm25,biencoder", "zsum": "zsum:bm25,biencoder"}
RRF_K = 60
Group = tuple[str, Sequence[str]]


class CorpusScorer(Protocol):
    """A component that scores a query against every corpus item at once."""

    name: str

    def corpus_scores(self, queries: list[str]) -> np.ndarray:
        """``(len(queries), len(corpus))`` scores, columns in corpus order."""
        ...


class Bm25Scorer:
    """BM25 scores of queries against the whole corpus (enrich.retrieval's tokenisation).

    Args:
        texts: corpus texts in corpus order.
    """

    name = "bm25"

    def __init__(self, texts: list[str]):
        from enrich.retrieval.bm25 import BM25Retriever

        self.retriever = BM25Retriever([str(i) for i in range(len(texts))], texts)

    def corpus_scores(self, queries: list[str]) -> np.ndarray:
        tokens = self.retriever._tokenize(queries)
        bm25 = self.retriever._bm25
        rows = [bm25.get_scores(t) if t else np.zeros(len(self.retriever.ids)) for t in tokens]
        return np.asarray(rows, dtype=np.float64).reshape(len(queries), -1)


class DenseScorer:
    """Cosine similarity of queries and every corpus item under a bi-encoder.

    Args:
        texts: corpus texts in corpus order.
        model: a local bi-encoder folder, a loaded model, or None for all-MiniLM-L6-v2.
        show_progress: a progress bar while the corpus is encoded.
        cache_dir: keep the corpus vectors here (:mod:`enrich.retrieval.vectors`).
    """

    name = "biencoder"

    def __init__(self, texts: list[str], model: Any = None, show_progress: bool = False,
                 cache_dir: Any = None):
        from enrich.retrieval.encoder import load_bi_encoder
        from enrich.retrieval.vectors import corpus_vectors, model_key

        self.encoder, self.model_name = load_bi_encoder(model)
        self.vectors = corpus_vectors(self.encoder, model_key(model), texts, cache_dir,
                                      show_progress=show_progress)

    def corpus_scores(self, queries: list[str]) -> np.ndarray:
        vectors = self.encoder.encode_query(queries, batch_size=64, normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float64) @ np.asarray(self.vectors).T


class PairScorer(Protocol):
    """A component that scores only the (query, item text) pairs it is given."""

    name: str

    def pair_scores(self, pairs: list[tuple[str, str]]) -> np.ndarray: ...


def corpus_ranks(row: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """1-based rank of each picked score within a corpus row (ties share the best rank).

    Example:
        >>> corpus_ranks(np.array([3.0, 1.0, 3.0, 2.0]), np.array([1.0, 3.0])).tolist()
        [4, 1]
    """
    ordered = np.sort(row)[::-1]
    return 1 + np.searchsorted(-ordered, -picked, side="left")


def top_standardised(row: np.ndarray, picked: np.ndarray, top: int = 100) -> np.ndarray:
    """``picked`` standardised with the mean and spread of the row's ``top`` best scores."""
    best = np.sort(row)[::-1][:top]
    spread = float(best.std()) or 1.0
    return (picked - float(best.mean())) / spread


class Teacher:
    """A (possibly combined) teacher over one corpus.

    Args:
        name: the spec it was built from (``rrf``, ``zsum:biencoder,ql-pmi``, ...).
        method: ``single``, ``rrf`` or ``zsum``.
        corpus: item id → text.
        corpus_parts: components that score the whole corpus.
        pair_parts: components that score given pairs (the LLM).
    """

    def __init__(self, name: str, method: str, corpus: dict[str, str],
                 corpus_parts: list[CorpusScorer], pair_parts: list[PairScorer]):
        self.name = name
        self.method = method
        self.ids = [str(i) for i in corpus]
        self.texts = list(corpus.values())
        self.position = {item_id: n for n, item_id in enumerate(self.ids)}
        self.corpus_parts = corpus_parts
        self.pair_parts = pair_parts

    def score_groups(self, groups: list[Group], chunk: int = 256) -> list[np.ndarray]:
        """Teacher scores of each group's items, in the group's order.

        Args:
            groups: ``(query, [item ids])``; every id must be in the corpus.
            chunk: queries scored against the corpus at once (bounds memory).

        Returns:
            One float array per group.

        Raises:
            ConfigError: an item id is not in the teacher's corpus.
        """
        parts: list[list[np.ndarray]] = [[] for _ in groups]
        for scorer in self.corpus_parts:
            for start in range(0, len(groups), chunk):
                block = groups[start:start + chunk]
                rows = scorer.corpus_scores([q for q, _ in block])
                for n, ((_, items), row) in enumerate(zip(block, rows, strict=True)):
                    parts[start + n].append(self._corpus_part(row, self._positions(items)))
        for pair_scorer in self.pair_parts:
            for n, values in enumerate(self._pair_part(pair_scorer, groups)):
                parts[n].append(values)
        return [np.sum(p, axis=0) if self.method != "single" else p[0] for p in parts]

    def _positions(self, items: Sequence[str]) -> np.ndarray:
        missing = [i for i in items if str(i) not in self.position]
        if missing:
            raise ConfigError(f"teacher {self.name}: item {missing[0]} is not in its corpus",
                              "pass the item table the pairs come from (--corpus)")
        return np.asarray([self.position[str(i)] for i in items], dtype=np.int64)

    def _corpus_part(self, row: np.ndarray, positions: np.ndarray) -> np.ndarray:
        picked = row[positions]
        if self.method == "rrf":
            return 1.0 / (RRF_K + corpus_ranks(row, picked))
        if self.method == "zsum":
            return top_standardised(row, picked)
        return picked

    def _pair_part(self, scorer: PairScorer, groups: list[Group]) -> list[np.ndarray]:
        pairs = [(q, self.texts[self.position[str(i)]]) for q, items in groups for i in items]
        flat = scorer.pair_scores(pairs)
        if self.method == "zsum":
            spread = float(np.nanstd(flat)) or 1.0
            flat = (flat - float(np.nanmean(flat))) / spread
        flat = np.nan_to_num(flat, nan=float(np.nanmin(flat)) if np.isfinite(flat).any() else 0)
        out, start = [], 0
        for _, items in groups:
            values = flat[start:start + len(items)]
            start += len(items)
            if self.method == "rrf":
                ranks = 1 + np.argsort(np.argsort(-values, kind="stable"), kind="stable")
                values = 1.0 / (RRF_K + ranks)
            out.append(np.asarray(values, dtype=np.float64))
        return out


def parse_teacher(spec: str) -> tuple[str, list[str]]:
    """``(method, [base teachers])`` of a teacher name.

    Raises:
        ConfigError: unknown method or base teacher.

    Example:
        >>> parse_teacher("zsum:biencoder,ql-pmi")
        ('zsum', ['biencoder', 'ql-pmi'])
        >>> parse_teacher("rrf")
        ('rrf', ['bm25', 'biencoder'])
    """
    spec = SHORTCUTS.get(spec.strip(), spec.strip())
    method, _, names = spec.partition(":") if ":" in spec else ("single", "", spec)
    parts = [n.strip() for n in names.split(",") if n.strip()]
    known = ", ".join([*BASE_TEACHERS, *SHORTCUTS, "rrf:A,B", "zsum:A,B"])
    if method not in ("single", "rrf", "zsum") or not parts or \
            any(p not in BASE_TEACHERS for p in parts) or (method == "single" and len(parts) > 1):
        raise ConfigError(f"unknown teacher `{spec}`", f"use one of {known}")
    return method, parts


def build_teacher(spec: str, corpus: dict[str, str], base_model: Any = None,
                  llm: Any = None, show_progress: bool = False,
                  shared: dict[str, Any] | None = None, cache_dir: Any = None) -> Teacher:
    """A teacher over ``corpus`` from its name.

    Args:
        spec: teacher name (see the module docstring).
        corpus: item id → text (every item a group may mention).
        base_model: the bi-encoder of ``biencoder`` (None: all-MiniLM-L6-v2).
        llm: an :class:`enrich.distill.llm_teacher.LLMTeacher` for ``ql`` / ``ql-pmi``.
        show_progress: progress bars while encoding.
        shared: components already built over the same corpus, by name (filled in here), so
            several teachers encode the corpus once.
        cache_dir: corpus vectors kept on disk (:mod:`enrich.retrieval.vectors`).

    Returns:
        The teacher.

    Raises:
        ConfigError: unknown name, or an LLM teacher without ``llm``.
    """
    method, parts = parse_teacher(spec)
    texts = list(corpus.values())
    corpus_parts: list[CorpusScorer] = []
    pair_parts: list[PairScorer] = []
    shared = {} if shared is None else shared
    for part in parts:
        if part == "bm25":
            corpus_parts.append(shared.get(part) or shared.setdefault(part, Bm25Scorer(texts)))
        elif part == "biencoder":
            corpus_parts.append(shared.get(part) or shared.setdefault(
                part, DenseScorer(texts, base_model, show_progress, cache_dir)))
        else:
            if llm is None:
                raise ConfigError(f"teacher {spec} needs an LLM for {part}",
                                  "pass --teacher-model (an embedded model, e.g. smollm2-135m)")
            pair_parts.append(llm.component(part))
    return Teacher(spec, method, corpus, corpus_parts, pair_parts)
