"""Streamlit helpers shared by the dashboard pages in ``enrich/dashboard/views``.

The store path comes from ``ENRICH_DB`` (set by ``enrich dashboard --db``), the results folder
from ``ENRICH_EVAL_RESULTS`` (default ``eval/results`` of the project). Expected problems (no
store, store locked by a running job) become one message with what to do, not a traceback.

Example (in a page script):
    >>> data = store()                                    # doctest: +SKIP
    >>> runs = guarded(data.runs)                         # doctest: +SKIP
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from enrich.errors import EnrichError
from enrich.evaluate import charts
from enrich.evaluate.dashboard_data import DashboardData
from enrich.evaluate.report import metrics_table, result_charts
from enrich.evaluate.results import SuiteResult

T = TypeVar("T")


def store() -> DashboardData:
    """The store the dashboard reads, shown in the sidebar."""
    db = Path(os.environ.get("ENRICH_DB", "enrich.duckdb")).expanduser()
    st.sidebar.caption(f"store: `{db}` (read-only)")
    return DashboardData(db)


def results_dir() -> Path:
    """Where ``enrich eval run`` saved its result JSON files."""
    from enrich.jobs import find_project_root

    configured = os.environ.get("ENRICH_EVAL_RESULTS")
    return Path(configured) if configured else find_project_root(Path.cwd()) / "eval" / "results"


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``; an expected error is shown as one message and the page stops."""
    try:
        return fn(*args, **kwargs)
    except EnrichError as exc:
        st.error(f"{exc.message}" + (f" — {exc.hint}" if exc.hint else ""))
        st.stop()
        raise  # unreachable: st.stop() ends the script run


def run_label(row: pd.Series) -> str:
    """``run-… · job · prompt@version · model`` for select boxes."""
    prompt = f"{row.get('prompt_name', '')}@{str(row.get('prompt_version', ''))[:12]}"
    return f"{row['run_id']} · {row.get('job_name', '')} · {prompt} · {row.get('model', '')}"


def pick_run(runs: pd.DataFrame, label: str, key: str, index: int = 0) -> str | None:
    """A select box over runs; returns the chosen run id (None when there is no run)."""
    if runs.empty:
        st.info("No runs yet: run a job (`enrich run jobs/...`) or a suite (`enrich eval run`).")
        return None
    labels = {run_label(row): row["run_id"] for _, row in runs.iterrows()}
    chosen = st.selectbox(label, list(labels), index=min(index, len(labels) - 1), key=key)
    return labels[chosen] if chosen else None


def show_chart(chart: charts.AnyChart) -> None:
    st.altair_chart(chart, width="content")


def show_result(result: SuiteResult) -> None:
    """Metrics with intervals, notes and the plots of one result."""
    st.dataframe(metrics_table(result), hide_index=True)
    for note in result.notes:
        st.caption(note)
    named = result_charts(result)
    for start in range(0, len(named), 2):
        columns = st.columns(2)
        for column, (_, chart) in zip(columns, named[start:start + 2], strict=False):
            with column:
                show_chart(chart)
