"""Read what a run produced from the store: outputs, failures, predicted labels, provenance.

Labels are read from the task's view (``match_labels``) when it has rows for the run, else from
the stored output JSON (``label`` and ``p_bad`` fields by default). All reads are plain SQL on
a cursor of a read-only :class:`~enrich.store.Store` (only ``Store`` opens a store file), so a
store a job is writing is refused with the store's own message.

Example:
    >>> with Store(Path("enrich.duckdb"), read_only=True) as store:             # doctest: +SKIP
    ...     labels = label_predictions(store.reader(), "run-...", Predictions(), CLASSES)
"""

import json
import math
from typing import Any

import duckdb
import pandas as pd

from enrich.errors import ConfigError
from enrich.evaluate.suites import Predictions

RUN_INFO_COLUMNS = ("run_id", "job_name", "task", "prompt_name", "prompt_version", "backend",
                    "model", "status", "started_at", "wall_s")


def has_relation(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the store has a table or view called ``name``."""
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                      [name]).fetchone()
    return bool(row and row[0])


def relation_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Column names of a table or view."""
    return [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = ? ORDER BY ordinal_position",
                                      [name]).fetchall()]


def run_info(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """Provenance of a run (job, prompt name and version, backend, model, status)."""
    row = con.execute(f"SELECT {', '.join(RUN_INFO_COLUMNS)} FROM runs WHERE run_id = ?",
                      [run_id]).fetchone()
    if row is None:
        raise ConfigError(f"no run `{run_id}` in the store", "list runs with `enrich status`")
    info = dict(zip(RUN_INFO_COLUMNS, row, strict=True))
    info["started_at"] = str(info["started_at"]) if info["started_at"] else None
    return info


def run_outputs(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """Every row of a run: ``row_id, output`` (dict or None), ``error_kind, message, content``."""
    rows = con.execute(
        "SELECT o.row_id, q.output, NULL AS error_kind, NULL AS message, q.content "
        "FROM outputs o JOIN requests q USING (key) WHERE o.run_id = $run "
        "UNION ALL SELECT row_id, NULL, error_kind, message, content FROM failures "
        "WHERE run_id = $run", {"run": run_id}).fetchall()
    frame = pd.DataFrame(rows, columns=["row_id", "output", "error_kind", "message", "content"],
                         dtype=object)
    frame["output"] = pd.Series([json.loads(r[1]) if isinstance(r[1], str) else None
                                 for r in rows], dtype=object)
    frame["row_id"] = frame["row_id"].astype(str)
    return frame


def _score_from_label(label: Any, classes: list[str]) -> float:
    if label not in classes:
        return math.nan
    return 1.0 - classes.index(label) / (len(classes) - 1)


def _from_view(con: duckdb.DuckDBPyConnection, run_id: str, spec: Predictions) -> pd.DataFrame:
    if spec.view is None or not has_relation(con, spec.view):
        return pd.DataFrame()
    columns = relation_columns(con, spec.view)
    needed = [spec.view_id_column, spec.label, "run_id"]
    if any(c not in columns for c in needed):
        return pd.DataFrame()
    score = f'"{spec.score}"' if spec.score in columns else "NULL"
    source = '"p_bad_source"' if "p_bad_source" in columns else "NULL"
    return con.execute(
        f'SELECT CAST("{spec.view_id_column}" AS VARCHAR) AS row_id, "{spec.label}" AS label, '
        f"CAST({score} AS DOUBLE) AS p_bad, {source} AS p_bad_source "
        f'FROM "{spec.view}" WHERE run_id = ?', [run_id]).df()


def label_predictions(con: duckdb.DuckDBPyConnection, run_id: str, spec: Predictions,
                      classes: list[str]) -> pd.DataFrame:
    """Predicted ``label`` and ``p_bad`` per ``row_id`` of a run (``p_bad_source`` says where
    the probability came from; ``label`` when only a class was given: worst 1, best 0)."""
    frame = _from_view(con, run_id, spec)
    if frame.empty:
        outputs = run_outputs(con, run_id)
        outputs = outputs[outputs["output"].notna()]
        frame = pd.DataFrame({
            "row_id": outputs["row_id"],
            "label": [o.get(spec.label) if isinstance(o, dict) else None
                      for o in outputs["output"]],
            "p_bad": [o.get(spec.score) if isinstance(o, dict) else None
                      for o in outputs["output"]],
            "p_bad_source": "output"})
    frame["p_bad"] = pd.to_numeric(frame["p_bad"], errors="coerce")
    missing = frame["p_bad"].isna()
    frame.loc[missing, "p_bad"] = [_score_from_label(v, classes)
                                   for v in frame.loc[missing, "label"]]
    frame.loc[missing, "p_bad_source"] = "label"
    return frame.drop_duplicates("row_id").reset_index(drop=True)


def kept_by_row(con: duckdb.DuckDBPyConnection, run_id: str, view: str | None,
                id_column: str = "item_id") -> pd.DataFrame:
    """Consistency-filter results per row from a view with ``kept`` (empty when absent)."""
    if view is None or not has_relation(con, view):
        return pd.DataFrame(columns=["row_id", "kept", "n"])
    columns = relation_columns(con, view)
    if "kept" not in columns or id_column not in columns:
        return pd.DataFrame(columns=["row_id", "kept", "n"])
    return con.execute(
        f'SELECT CAST("{id_column}" AS VARCHAR) AS row_id, sum(CAST(kept AS INTEGER)) AS kept, '
        f'count(*) AS n FROM "{view}" WHERE run_id = ? GROUP BY 1', [run_id]).df()
