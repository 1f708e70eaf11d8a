"""Per-run summaries of the task views, for ``enrich tasks summary`` and ``make demo-tasks``.

Each summary has the run's provenance (job, model, prompt version, wall time, ok / failed),
a few task-specific statistics read from the task's view, and example rows.

Example:
    >>> with Store(Path("demo-tasks.duckdb"), read_only=True) as store:   # doctest: +SKIP
    ...     for summary in summarize_runs(store):
    ...         print(summary.task, summary.stats)
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from enrich.tasks import all_tasks, task_class

if TYPE_CHECKING:
    from enrich.store import Store

@dataclass
class RunReport:
    """What ``enrich tasks summary`` prints for one run."""

    task: str
    view: str
    run: dict[str, Any]
    stats: dict[str, Any]
    columns: list[str] = field(default_factory=list)
    examples: list[tuple[Any, ...]] = field(default_factory=list)


def _one(store: "Store", sql: str, run_id: str) -> dict[str, Any]:
    cursor = store.sql(sql, [run_id])
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    return dict(zip(names, row, strict=True)) if row else {}


def _pairs(store: "Store", sql: str, run_id: str) -> dict[str, Any]:
    return {str(k): v for k, v in store.sql(sql, [run_id]).fetchall()}


def roc_auc(scores: list[float], positives: list[bool]) -> float | None:
    """ROC AUC by the rank-sum formula (ties get half credit); None without both classes.
    (:func:`enrich.evaluate.auc.roc_auc`: one implementation, no numpy or scipy needed.)

    Example:
        >>> roc_auc([0.9, 0.2, 0.6], [True, False, False])
        1.0
    """
    import math

    from enrich.evaluate.auc import roc_auc as rank_auc

    value = rank_auc(positives, scores)
    return None if math.isnan(value) else value


def _stats_match_labels(store: "Store", run_id: str) -> dict[str, Any]:
    """AUC of the scores against human ratings, when the source had them (``relevance``)."""
    stats: dict[str, Any] = {}
    rows = store.sql("SELECT TRY_CAST(input ->> '$.relevance' AS DOUBLE), p_bad, "
                     "1 - p_good, -ql_pmi FROM match_labels WHERE run_id = ?",
                     [run_id]).fetchall()
    scores = {"auc_p_bad_vs_human_bad": 1, "auc_1_minus_p_good": 2, "auc_minus_ql_pmi": 3}
    for name, column in scores.items():
        rated = [(r[column], r[0]) for r in rows if r[column] is not None and r[0] is not None]
        auc = roc_auc([s for s, _ in rated], [rel < 2.0 for _, rel in rated]) if rated else None
        if auc is not None:
            stats[name] = f"{auc:.3f} on {len(rated)} pairs (bad = mean human rating < 2.0)"
    return stats


def task_stats(store: "Store", task: str, run_id: str) -> dict[str, Any]:
    """Task-specific statistics of one run, read from its view (the queries the task's
    :class:`~enrich.tasks.view.TaskView` declares)."""
    view = task_class(task).view
    if view is None:
        return {}
    stats = _one(store, view.stats, run_id) if view.stats else {}
    for name, sql in view.breakdowns.items():
        stats[name] = _pairs(store, sql, run_id)
    if task == "bad_match":
        stats.update(_stats_match_labels(store, run_id))
    return stats


def latest_runs(store: "Store", tasks: list[str] | None = None) -> list[dict[str, Any]]:
    """The latest run of every (task, job) pair among the task kinds with a view."""
    from enrich.store.queries import run_counts

    with_views = [name for name, task in all_tasks().items() if task.view is not None]
    wanted = [name for name in tasks if name in with_views] if tasks else with_views
    cursor = store.reader().execute(
        "SELECT run_id, job_name, task, model, backend, prompt_version, status, wall_s, "
        "started_at FROM runs WHERE task IN (SELECT unnest($t)) QUALIFY row_number() OVER "
        "(PARTITION BY task, job_name ORDER BY started_at DESC) = 1 ORDER BY started_at",
        {"t": wanted})
    names = [d[0] for d in cursor.description]
    runs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for run in runs:
        run.update(run_counts(store, run["run_id"]))
    return runs


def summarize_runs(store: "Store", tasks: list[str] | None = None, examples: int = 3
                   ) -> list[RunReport]:
    """A :class:`RunReport` for the latest run of each task job in the store."""
    reports = []
    for run in latest_runs(store, tasks):
        task = run["task"]
        view = task_class(task).view
        if view is None:  # (latest_runs returns only tasks with a view)
            continue
        cursor = store.sql(view.example_query(examples), [run["run_id"]])
        columns = [d[0] for d in cursor.description]
        rows = [tuple(_short(v) for v in row) for row in cursor.fetchall()]
        reports.append(RunReport(task, view.name, run, task_stats(store, task, run["run_id"]),
                                 columns, rows))
    return reports


def _short(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("[{"):
        try:
            spans = orjson.loads(value)
            return " ".join(f"[{s['text']}]/{s['type']}" for s in spans)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return value
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return value
