"""Export a run's outputs with their provenance to Parquet, JSONL or CSV (DuckDB COPY)."""

from pathlib import Path

import duckdb

from enrich.errors import ConfigError, StoreError
from enrich.store import Store

FORMATS = {"parquet": "(FORMAT parquet)", "jsonl": "(FORMAT json)",
           "csv": "(FORMAT csv, HEADER true)"}

EXPORT_SQL = """
SELECT o.run_id, o.row_id, o.cached, o.input, q.output, r.job_name, r.task,
       q.prompt_name, q.prompt_version, q.model, q.backend, q.params,
       q.prompt_tokens, q.completion_tokens, q.latency_ms, q.created_at AS generated_at, o.key
FROM outputs o JOIN requests q ON q.key = o.key JOIN runs r ON r.run_id = o.run_id
WHERE o.run_id = '{run_id}' ORDER BY o.row_id
"""


def resolve_run(store: Store, run_or_job: str) -> str:
    """A run id from a run id or a job name (the job's latest run)."""
    row = store.sql("SELECT run_id FROM runs WHERE run_id = ? OR job_name = ? "
                    "ORDER BY (run_id = ?) DESC, started_at DESC LIMIT 1",
                    [run_or_job, run_or_job, run_or_job]).fetchone()
    if row is None:
        raise ConfigError(f"no run or job called `{run_or_job}` in {store.path}",
                          "list runs with `enrich status`")
    return row[0]


def export_run(store: Store, run_or_job: str, out: Path, fmt: str) -> tuple[str, int]:
    """Write the run's outputs to ``out``; returns (run id, rows written)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format `{fmt}`", f"use one of {', '.join(FORMATS)}")
    run_id = resolve_run(store, run_or_job)
    query = EXPORT_SQL.format(run_id=run_id.replace("'", "''"))
    n = store.sql(f"SELECT count(*) FROM ({query})").fetchone()[0]
    target = str(out).replace("'", "''")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        store.sql(f"COPY ({query}) TO '{target}' {FORMATS[fmt]}")
    except (OSError, duckdb.IOException, duckdb.PermissionException) as exc:
        raise StoreError(f"cannot write {out}: {str(exc).splitlines()[0]}",
                         "choose a writable path with --out") from exc
    return run_id, int(n)
