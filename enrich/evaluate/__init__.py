"""Evaluation: LLM labels vs human labels, generation quality, retrieval metrics, prompt A/B.

Suites (``eval/suites/*.yaml``) name a prompt, a golden set, metrics and thresholds; every
headline number comes with a bootstrap confidence interval and the model that produced it.
Names are imported lazily (numpy, scikit-learn and pandas load on first use), so the CLI stays
fast.

Example:
    >>> from enrich.evaluate import evaluate_suite, load_suite        # doctest: +SKIP
    >>> scored = evaluate_suite(load_suite("bad_match_homedepot"), Path("enrich.duckdb"))
    ...                                                                 # doctest: +SKIP
    >>> print(scored.result.metrics["roc_auc"])                        # doctest: +SKIP
    0.410 [0.259, 0.577]
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Estimate": "bootstrap", "bootstrap": "bootstrap", "paired_difference": "bootstrap",
    "Suite": "suites", "load_suite": "suites",
    "PromptRef": "execute", "run_suite_job": "execute",
    "evaluate_suite": "evaluation", "score_run": "evaluation",
    "compare_versions": "compare", "Comparison": "compare",
    "evaluate_retrieval": "retrieval_suite",
    "SuiteResult": "results", "load_results": "results",
    "write_report": "report", "write_comparison_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'enrich.evaluate' has no attribute {name!r}")
    return getattr(import_module(f"enrich.evaluate.{_EXPORTS[name]}"), name)
