"""Read-only queries behind the dashboard (``enrich/dashboard``): runs, outputs, labels, versions.

Every call opens the store read-only through :class:`~enrich.store.Store` and closes it, so the
dashboard never holds the store open; a store locked by a running job, a missing or damaged
file and a store from a newer enrich raise :class:`StoreError` with what to do. A run's counts
and tokens come from :func:`enrich.store.queries.runs_counts`, as in ``enrich status``.

Example:
    >>> data = DashboardData(Path("enrich.duckdb"))    # doctest: +SKIP
    >>> data.runs()[["run_id", "ok", "failed"]]        # doctest: +SKIP
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from enrich.evaluate.collect import has_relation
from enrich.store import Store
from enrich.store.queries import runs_counts

_RUNS = """
SELECT run_id, job_name, task, prompt_name, prompt_version, backend, model, status, source,
       started_at, finished_at, wall_s, rows_total
FROM runs ORDER BY started_at DESC
"""
_COUNTS = ("ok", "cached", "failed", "tokens_in", "tokens_out")

_ROWS = """
SELECT o.row_id, CASE WHEN o.cached THEN 'cached' ELSE 'ok' END AS status, NULL AS error_kind,
       o.input, q.output, q.content, NULL AS message
FROM outputs o JOIN requests q USING (key) WHERE o.run_id = $run
UNION ALL
SELECT row_id, 'failed', error_kind, input, NULL, content, message FROM failures
WHERE run_id = $run
"""


class DashboardData:
    """Queries for the dashboard pages over one store.

    Args:
        db: the DuckDB file (opened read-only for each query).
    """

    def __init__(self, db: Path):
        self.db = Path(db)

    @contextmanager
    def open(self) -> Iterator[Store]:
        """The store, opened read-only for one call (closed after it).

        Raises:
            StoreError: no store there, a job has it open for writing, or it is damaged,
                not an enrich store or from a newer enrich.
        """
        with Store(self.db, read_only=True) as store:
            yield store

    def runs(self) -> pd.DataFrame:
        """Every run with counts, tokens and rows/s, newest first."""
        with self.open() as store:
            frame = store.sql(_RUNS).df()
            counts = runs_counts(store)
        for name in _COUNTS:
            frame[name] = pd.Series([counts[r][name] if r in counts else 0
                                     for r in frame["run_id"]], index=frame.index, dtype="int64")
        done = frame["ok"] + frame["cached"] + frame["failed"]
        frame["rows_per_s"] = (done / frame["wall_s"].where(frame["wall_s"] > 0)).round(2)
        return frame

    def rows(self, run_id: str, status: str = "all", search: str = "",
             limit: int = 500) -> pd.DataFrame:
        """Rows of a run (ok, cached and failed), filtered by status and a text search."""
        query = f"SELECT * FROM ({_ROWS}) WHERE 1 = 1"
        params: dict[str, Any] = {"run": run_id}
        if status != "all":
            query += " AND status = $status"
            params["status"] = status
        if search:
            query += (" AND (row_id ILIKE $s OR CAST(input AS VARCHAR) ILIKE $s OR "
                      "CAST(output AS VARCHAR) ILIKE $s OR content ILIKE $s OR message ILIKE $s)")
            params["s"] = f"%{search}%"
        query += f" ORDER BY row_id LIMIT {int(limit)}"
        with self.open() as store:
            return store.sql(query, params).df()

    def row_detail(self, run_id: str, row_id: str) -> dict[str, Any]:
        """Prompt messages, raw response, parsed output and error of one row of a run."""
        with self.open() as store:
            found = store.sql(
                "SELECT q.messages, q.response, q.content, q.output, q.prompt_tokens, "
                "q.completion_tokens, q.latency_ms, q.finish_reason, o.input, o.cached, q.key "
                "FROM outputs o JOIN requests q USING (key) WHERE o.run_id = ? AND o.row_id = ?",
                [run_id, row_id]).fetchone()
            if found is not None:
                keys = ("messages", "response", "content", "output", "prompt_tokens",
                        "completion_tokens", "latency_ms", "finish_reason", "input", "cached",
                        "key")
                detail = dict(zip(keys, found, strict=True))
                detail["error"] = None
            else:
                failed = store.sql("SELECT error_kind, message, content, input, sends FROM "
                                     "failures WHERE run_id = ? AND row_id = ?",
                                     [run_id, row_id]).fetchone()
                if failed is None:
                    return {}
                detail = {"error": f"{failed[0]}: {failed[1]}", "content": failed[2],
                          "input": failed[3], "sends": failed[4], "messages": None,
                          "response": None, "output": None}
        for key in ("messages", "response", "output", "input"):
            if isinstance(detail.get(key), str):
                try:
                    detail[key] = json.loads(detail[key])
                except json.JSONDecodeError:
                    pass
        return detail

    def label_runs(self) -> pd.DataFrame:
        """Runs whose outputs carry a label and P(bad) (bad-match runs, judge prompts)."""
        with self.open() as store:
            return store.sql(
                "SELECT r.run_id, r.job_name, r.prompt_name, r.prompt_version, r.model, "
                "r.started_at FROM runs r WHERE r.task = 'bad_match' OR EXISTS (SELECT 1 FROM "
                "outputs o JOIN requests q USING (key) WHERE o.run_id = r.run_id AND "
                "json_exists(q.output, '$.p_bad') LIMIT 1) ORDER BY r.started_at DESC").df()

    def run_inputs(self, run_id: str) -> pd.DataFrame:
        """The source row of every row of a run (its ``input`` JSON) as columns + ``row_id``."""
        with self.open() as store:
            rows = store.sql("SELECT row_id, input FROM outputs WHERE run_id = $r UNION ALL "
                               "SELECT row_id, input FROM failures WHERE run_id = $r",
                               {"r": run_id}).fetchall()
        records = [{**(json.loads(i) if i else {}), "row_id": str(r)} for r, i in rows]
        return pd.DataFrame.from_records(records)

    def has_view(self, name: str) -> bool:
        with self.open() as store:
            return has_relation(store.reader(), name)

    def prompt_names(self) -> list[str]:
        with self.open() as store:
            return [r[0] for r in store.sql("SELECT DISTINCT name FROM prompt_versions "
                                              "ORDER BY 1").fetchall()]

    def prompt_versions(self, name: str) -> pd.DataFrame:
        """Versions of a prompt seen by runs: content, first seen, runs and sources."""
        with self.open() as store:
            return store.sql(
                "SELECT v.version, v.first_seen, v.content, count(r.run_id) AS runs, "
                "list(DISTINCT r.source) AS sources FROM prompt_versions v LEFT JOIN runs r "
                "ON r.prompt_name = v.name AND r.prompt_version = v.version WHERE v.name = ? "
                "GROUP BY ALL ORDER BY v.first_seen", [name]).df()

    def runs_of(self, prompt: str, version: str) -> pd.DataFrame:
        """Finished runs of one prompt version, newest first."""
        with self.open() as store:
            return store.sql("SELECT run_id, job_name, source, model, started_at, status "
                               "FROM runs WHERE prompt_name = ? AND prompt_version = ? "
                               "ORDER BY started_at DESC", [prompt, version]).df()
