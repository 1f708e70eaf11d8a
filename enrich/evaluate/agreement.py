"""Agreement of any stored labelling run with human labels found in its own source rows.

A run over a file that carries a human rating column (the golden sets, or the Home Depot sample
``relevance``) can be scored without a suite: the human labels are read from each row's stored
``input``. The dashboard uses this for its agreement plots and version comparison.

Example:
    >>> scored = run_agreement(DashboardData(db), "run-...", HumanLabels(column="relevance"))
    ...                                                                       # doctest: +SKIP
    >>> scored.result.metrics["roc_auc"]                                      # doctest: +SKIP
"""

import pandas as pd

from enrich.errors import ConfigError
from enrich.evaluate import collect
from enrich.evaluate.bootstrap import Estimate
from enrich.evaluate.compare import Comparison, changed_rows
from enrich.evaluate.dashboard_data import DashboardData
from enrich.evaluate.evaluation import ScoredRun
from enrich.evaluate.label_suite import (
    label_differences,
    label_frame,
    label_metrics,
    label_tables,
    p_bad_sources,
)
from enrich.evaluate.results import SuiteResult
from enrich.evaluate.suites import BootstrapSpec, GoldenSpec, HumanLabels, Suite, SuiteJob


def numeric_input_columns(inputs: pd.DataFrame) -> list[str]:
    """Columns of the source rows that are numbers in (almost) every row."""
    found = []
    for column in inputs.columns:
        if column == "row_id":
            continue
        values = pd.to_numeric(inputs[column], errors="coerce")
        if len(values) and values.notna().mean() > 0.95 and values.nunique() > 1:
            found.append(column)
    return found


def agreement_suite(human: HumanLabels, resamples: int = 200) -> Suite:
    """An in-memory labels suite over the run's own inputs (``row_id`` is the id)."""
    return Suite(name="dashboard", kind="labels",
                 golden=GoldenSpec(path="(run inputs)", id_column="row_id"),
                 job=SuiteJob(prompt="-"), human=human,
                 bootstrap=BootstrapSpec(resamples=resamples))


def _scored(data: DashboardData, run_id: str, golden: pd.DataFrame, suite: Suite) -> ScoredRun:
    assert suite.human is not None
    with data.open() as store:
        con = store.reader()
        info = collect.run_info(con, run_id)
        outputs = collect.run_outputs(con, run_id)
        predictions = collect.label_predictions(con, run_id, suite.predictions,
                                                suite.human.classes)
    failed = set(outputs.loc[outputs["error_kind"].notna(), "row_id"])
    frame = label_frame(golden, predictions, failed, suite)
    sources = p_bad_sources(frame)
    result = SuiteResult(
        "agreement", "labels", f"{info['prompt_name']}@{info['prompt_version']}",
        label_metrics(frame, suite),
        {"run_id": run_id, "model": info["model"], "backend": info["backend"],
         "prompt_version": info["prompt_version"], "golden_rows": len(golden)},
        label_tables(frame, suite), [],
        ["P(bad) from: " + ", ".join(f"{k} {v}" for k, v in sources.items())])
    return ScoredRun(result, frame, outputs, golden)


def _human_rows(inputs: pd.DataFrame, human: HumanLabels) -> pd.DataFrame:
    if human.column not in inputs.columns:
        raise ConfigError(f"the run's rows have no column `{human.column}`",
                          "pick a column that holds the human rating")
    values = pd.to_numeric(inputs[human.column], errors="coerce")
    rows = inputs[values.notna()].copy() if human.kind == "rating" else inputs.copy()
    return rows.sort_values("row_id").reset_index(drop=True)


def run_agreement(data: DashboardData, run_id: str, human: HumanLabels,
                  resamples: int = 200) -> ScoredRun:
    """Score one run's labels against the human column of its own input rows."""
    suite = agreement_suite(human, resamples)
    return _scored(data, run_id, _human_rows(data.run_inputs(run_id), human), suite)


def compare_runs(data: DashboardData, run_a: str, run_b: str, human: HumanLabels,
                 resamples: int = 200) -> Comparison:
    """Two labelling runs on the rows they share: metrics, paired B − A, changed rows."""
    suite = agreement_suite(human, resamples)
    rows_a = _human_rows(data.run_inputs(run_a), human)
    shared = set(rows_a["row_id"]) & set(data.run_inputs(run_b)["row_id"])
    if not shared:
        raise ConfigError(f"runs {run_a} and {run_b} share no row",
                          "compare runs over the same source (same golden set)")
    golden = rows_a[rows_a["row_id"].isin(shared)].reset_index(drop=True)
    a, b = _scored(data, run_a, golden, suite), _scored(data, run_b, golden, suite)
    differences: dict[str, Estimate] = label_differences(a.frame, b.frame, suite)
    return Comparison("agreement", a.result, b.result, differences, changed_rows(a, b, suite))
