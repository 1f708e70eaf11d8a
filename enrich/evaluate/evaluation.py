"""Evaluate a suite: run its prompt over the golden rows through the engine, then score the run.

Example:
    >>> suite = load_suite("bad_match_homedepot")                 # doctest: +SKIP
    >>> result = evaluate_suite(suite, Path("enrich.duckdb")).result  # doctest: +SKIP
    >>> print(result.metrics["roc_auc"])                           # doctest: +SKIP
    0.571 [0.452, 0.688]
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from enrich.evaluate import collect
from enrich.evaluate.execute import BackendFactory, PromptRef, run_suite_job
from enrich.evaluate.generation_suite import (
    generation_frame,
    generation_metrics,
    generation_tables,
)
from enrich.evaluate.golden import load_golden
from enrich.evaluate.label_suite import label_frame, label_metrics, label_tables, p_bad_sources
from enrich.evaluate.results import SuiteResult, check_thresholds
from enrich.evaluate.suites import Suite
from enrich.store import Store


@dataclass
class ScoredRun:
    """A run scored against a suite: the result, the per-row frame and the raw outputs."""

    result: SuiteResult
    frame: pd.DataFrame
    outputs: pd.DataFrame
    golden: pd.DataFrame


def golden_rows(suite: Suite) -> pd.DataFrame:
    """The suite's golden rows (the first ``job.limit`` ones when a limit is set)."""
    required = [suite.human.column] if suite.human else []
    if suite.human and suite.human.group_column:
        required.append(suite.human.group_column)
    golden = load_golden(suite.resolve(suite.golden.path), suite.golden.id_column, required)
    if suite.job and suite.job.limit:
        golden = golden.head(suite.job.limit)
    return golden


def score_run(suite: Suite, db: Path, run_id: str) -> ScoredRun:
    """Score a stored run of the suite's prompt against the golden labels."""
    golden = golden_rows(suite)
    with Store(db, read_only=True) as store:  # a job writing it: "in use by another process"
        con = store.reader()
        info = collect.run_info(con, run_id)
        outputs = collect.run_outputs(con, run_id)
        if suite.kind == "labels":
            assert suite.human is not None
            predictions = collect.label_predictions(con, run_id, suite.predictions,
                                                    suite.human.classes)
        else:
            kept = collect.kept_by_row(con, run_id, suite.generation.view)
    notes: list[str] = []
    if suite.kind == "labels":
        failed = set(outputs.loc[outputs["error_kind"].notna(), "row_id"])
        frame = label_frame(golden, predictions, failed, suite)
        metrics, tables = label_metrics(frame, suite), label_tables(frame, suite)
        sources = p_bad_sources(frame)
        notes.append("P(bad) from: " + (", ".join(f"{k} {v}" for k, v in sources.items())
                                         or "no prediction"))
    else:
        frame = generation_frame(golden, outputs, kept, suite)
        metrics, tables = generation_metrics(frame, suite), generation_tables(frame)
        if kept.empty and "pass_rate" in metrics:
            notes.append("pass_rate: the run has no consistency-filter view (n/a)")
    covered = int(len(outputs[outputs["output"].notna()]))
    notes.append(f"{covered} of {len(golden)} golden rows have an output")
    notes.append(_bootstrap_note(suite, golden))
    result = SuiteResult(suite.name, suite.kind,
                         f"{info['prompt_name']}@{info['prompt_version']}", metrics,
                         _provenance(suite, info, len(golden)), tables,
                         check_thresholds(metrics, suite.thresholds), notes)
    return ScoredRun(result, frame, outputs, golden)


def _bootstrap_note(suite: Suite, golden: pd.DataFrame) -> str:
    boot = suite.bootstrap
    group = suite.human.group_column if suite.human else None
    units = (f"{golden[group].nunique()} `{group}` groups (all rows of a group together)"
             if group else f"{len(golden)} rows")
    return (f"{int(boot.level * 100)}% CI: percentile bootstrap, {boot.resamples} resamples of "
            f"{units}; n = resampled units")


def _provenance(suite: Suite, info: dict[str, Any], rows: int) -> dict[str, Any]:
    return {"run_id": info["run_id"], "model": info["model"], "backend": info["backend"],
            "prompt": info["prompt_name"], "prompt_version": info["prompt_version"],
            "task": info["task"], "golden": suite.golden.path, "golden_rows": rows,
            "license": suite.golden.license, "resamples": suite.bootstrap.resamples,
            "level": suite.bootstrap.level}


def evaluate_suite(suite: Suite, db: Path, ref: PromptRef | None = None, *,
                   overrides: dict[str, Any] | None = None,
                   backend_factory: BackendFactory | None = None,
                   console: Any = None) -> ScoredRun:
    """Run the suite's prompt (or ``ref``) on the golden rows, then score the run.

    Unchanged rows are cache hits: rerunning an evaluation costs no LLM call.
    """
    assert suite.job is not None, "retrieval suites use evaluate_retrieval()"
    ref = ref or PromptRef.parse(suite.job.prompt)
    run_id, _ = run_suite_job(suite, ref, db, overrides=overrides,
                              backend_factory=backend_factory, console=console)
    return score_run(suite, db, run_id)
