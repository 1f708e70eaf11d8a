"""Read the task views of a store (``synthetic_queries``, ``match_labels``, ``user_summaries``,
``item_metadata``) and the provenance of the runs behind them.

The views are owned by the tasks; this module only reads them, read-only, so it can run beside a
job that is writing.
"""

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from enrich.errors import ConfigError, SourceError
from enrich.store import Store
from enrich.tasks import view_columns

VIEW_COLUMNS: dict[str, tuple[str, ...]] = view_columns()
"""View name → its columns, from the task registry (each task declares its view)."""


class ViewReader:
    """Read-only access to the task views of one DuckDB store.

    Args:
        db: the DuckDB file written by ``enrich run``.
        runs: only rows of these run ids (default: every run).

    Example:
        >>> with ViewReader(Path("enrich.duckdb")) as views:      # doctest: +SKIP
        ...     pairs = views.read("synthetic_queries", "kept")
    """

    def __init__(self, db: Path, runs: list[str] | None = None):
        if not Path(db).is_file():
            raise SourceError(f"no store at {db}", "run a job first, or pass --db PATH")
        self.db = Path(db)
        self.runs = list(runs) if runs else None
        # only Store opens a store file (its lock, damage and version checks); the views this
        # reads are checked here, so a file of bare view tables is accepted too
        self.store = Store(self.db, read_only=True, any_tables=True)
        self.con = self.store.reader()

    def __enter__(self) -> "ViewReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close()

    def has(self, name: str) -> bool:
        """Whether the store has a table or view called ``name``."""
        row = self.con.execute("SELECT count(*) FROM information_schema.tables "
                               "WHERE table_name = ?", [name]).fetchone()
        return bool(row and row[0])

    def read(self, name: str, where: str | None = None) -> pd.DataFrame | None:
        """Rows of a view (None when the store has no such view).

        Args:
            name: one of :data:`VIEW_COLUMNS`.
            where: an extra SQL condition, e.g. ``"kept"``.

        Returns:
            A DataFrame with every column of the view.

        Raises:
            SourceError: the view lacks a column this module needs.
        """
        if not self.has(name):
            return None
        columns = {r[0] for r in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
            [name]).fetchall()}
        missing = [c for c in VIEW_COLUMNS.get(name, ()) if c not in columns]
        if missing:
            raise SourceError(f"{self.db}: view `{name}` lacks column(s) {', '.join(missing)}",
                              "update the store with the current enrich (the task owns the view)")
        conditions, params = [], []
        if where:
            conditions.append(f"({where})")
        if self.runs:
            conditions.append(f"run_id IN ({', '.join('?' for _ in self.runs)})")
            params.extend(self.runs)
        sql = f'SELECT * FROM "{name}"'
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        return self.con.execute(sql, params).df()

    def run_info(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """Provenance of runs: job, task, prompt name and version, model."""
        if not run_ids or not self.has("runs"):
            return [{"run_id": r} for r in sorted(run_ids)]
        marks = ", ".join("?" for _ in run_ids)
        rows = self.con.execute(
            "SELECT run_id, job_name, task, prompt_name, prompt_version, model FROM runs "
            f"WHERE run_id IN ({marks}) ORDER BY run_id", sorted(run_ids)).fetchall()
        keys = ("run_id", "job_name", "task", "prompt_name", "prompt_version", "model")
        found = [dict(zip(keys, row, strict=True)) for row in rows]
        known = {r["run_id"] for r in found}
        return found + [{"run_id": r} for r in sorted(set(run_ids) - known)]


def parse_id_list(value: Any) -> list[str]:
    """Item ids from a ``liked`` / ``disliked`` cell: a list, a JSON array or ``a, b; c`` text.

    Example:
        >>> parse_id_list('["1", 2]'), parse_id_list("1; 2,3")
        (['1', '2'], ['1', '2', '3'])
    """
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return parse_id_list(json.loads(text))
            except json.JSONDecodeError:
                pass
        return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        return [str(v).strip() for v in items if v is not None and str(v).strip()]
    return [str(value)]


def read_table_file(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A CSV / JSONL / Parquet file as a DataFrame, checking that it has ``columns``.

    Raises:
        ConfigError: the file is missing, unreadable or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"file not found: {path}", "check the path")
    readers = {".csv": "read_csv_auto", ".tsv": "read_csv_auto", ".parquet": "read_parquet",
               ".jsonl": "read_json_auto", ".json": "read_json_auto"}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ConfigError(f"cannot read {path}", "use a .csv, .jsonl or .parquet file")
    frame = duckdb.connect().execute(f"SELECT * FROM {reader}(?)", [str(path)]).df()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path} lacks column(s) {', '.join(missing)}",
                          f"it needs {', '.join(columns)}; rename the columns")
    return frame
