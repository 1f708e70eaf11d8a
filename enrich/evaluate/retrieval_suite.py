"""Retrieval suites: each retriever (BM25, the base bi-encoder, distilled models) against the
golden queries and qrels, with per-query metrics bootstrapped over queries.

Example:
    >>> results = evaluate_retrieval(load_suite("retrieval_cranfield"), extra_models=["models/bi"])
    ...                                                                   # doctest: +SKIP
"""

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from enrich.evaluate.bootstrap import bootstrap
from enrich.evaluate.golden import load_corpus, load_golden, load_qrels
from enrich.evaluate.results import SuiteResult, check_thresholds
from enrich.evaluate.retrieval import Run, bi_encoder_retriever, bm25_retriever, per_query
from enrich.evaluate.suites import RetrieverSpec, Suite

Search = Callable[[dict[str, str]], Run]


def build_retriever(spec: RetrieverSpec, corpus: dict[str, str], depth: int,
                    show_progress: bool = False) -> Search:
    """The search function of a retriever spec."""
    if spec.kind == "bm25":
        return bm25_retriever(corpus, k=depth)
    return bi_encoder_retriever(spec.model or "all-MiniLM-L6-v2", corpus, k=depth,
                                show_progress=show_progress)


def retrievers_for(suite: Suite, extra_models: list[str] | None = None) -> list[RetrieverSpec]:
    """The suite's retrievers plus one bi-encoder per extra model folder."""
    specs = list(suite.retrieval.retrievers)
    for path in extra_models or []:
        specs.append(RetrieverSpec(name=str(path).rstrip("/").split("/")[-1] or str(path),
                                   kind="bi-encoder", model=str(path)))
    return specs


def evaluate_retrieval(suite: Suite, extra_models: list[str] | None = None,
                       searches: dict[str, Search] | None = None,
                       progress: Any = None) -> list[SuiteResult]:
    """One result per retriever.

    Args:
        suite: a retrieval suite.
        extra_models: local bi-encoder folders to add (e.g. from ``enrich distill``).
        searches: ready search functions by name (tests; replaces the suite's retrievers).
        progress: a callable ``(message) -> None`` told before each retriever.
    """
    golden = suite.golden
    queries_frame = load_golden(suite.resolve(golden.path), golden.id_column,
                                [golden.text_column])
    queries = dict(zip(queries_frame[golden.id_column],
                       queries_frame[golden.text_column].astype(str), strict=True))
    assert golden.qrels is not None and golden.corpus is not None
    qrels = {q: d for q, d in load_qrels(suite.resolve(golden.qrels)).items() if q in queries}
    corpus_path = suite.resolve(golden.corpus)
    corpus = load_corpus(corpus_path, golden.corpus_id_column, golden.corpus_text_columns)
    if searches is None:
        specs = retrievers_for(suite, extra_models)
        named: dict[str, tuple[RetrieverSpec | None, Search | None]] = {
            s.name: (s, None) for s in specs}
    else:
        named = {name: (None, fn) for name, fn in searches.items()}
    results = []
    for name, (spec, search) in named.items():
        if progress:
            progress(f"retriever {name}")
        started = time.perf_counter()
        if search is None:
            assert spec is not None
            search = build_retriever(spec, corpus, suite.retrieval.depth, progress is not None)
        run = search(queries)
        seconds = time.perf_counter() - started
        results.append(_result(suite, name, spec, per_query(qrels, run, suite.metric_names()),
                               seconds, len(corpus)))
    return results


def _result(suite: Suite, name: str, spec: RetrieverSpec | None, scores: Any,
            seconds: float, n_docs: int) -> SuiteResult:
    boot = suite.bootstrap
    metrics = {m: bootstrap(np.mean, scores[m].to_numpy(), resamples=boot.resamples,
                            level=boot.level, seed=boot.seed) for m in suite.metric_names()}
    provenance = {"retriever": spec.kind if spec else "custom",
                  "model": (spec.model if spec else None) or ("bm25s" if spec else name),
                  "queries": int(len(scores)), "documents": n_docs,
                  "golden": suite.golden.path, "license": suite.golden.license,
                  "seconds": round(seconds, 2)}
    return SuiteResult(suite.name, suite.kind, name, metrics, provenance,
                       {"per_query": scores}, check_thresholds(metrics, suite.thresholds))
