"""Export a run's outputs with their provenance to Parquet, JSONL or CSV (DuckDB COPY)."""

from pathlib import Path

import duckdb

from enrich.errors import ConfigError, StoreError
from enrich.store import Store

FORMATS = {"parquet": "(FORMAT parquet)", "jsonl": "(FORMAT json)",
           "csv": "(FORMAT csv, HEADER true)"}

# JSON columns (input, output, params): nested objects in JSONL; JSON text (a plain string
# column, VARCHAR) in Parquet and CSV, because DuckDB's JSON type becomes a Parquet byte array
# with a JSON annotation that polars reads as Binary and pyarrow as an extension type
JSON_AS = {"parquet": "VARCHAR", "jsonl": "JSON", "csv": "VARCHAR"}

EXPORT_SQL = """
SELECT o.run_id, o.row_id, o.cached, CAST(o.input AS {json}) AS input,
       CAST(q.output AS {json}) AS output, r.job_name, r.task,
       q.prompt_name, q.prompt_version, q.model, q.backend, CAST(q.params AS {json}) AS params,
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


def protected_files(store: Store, run_id: str) -> list[tuple[Path, str]]:
    """Files an export must never replace: the store (and its WAL), the run's job file and its
    source (every file a glob matches, and a SQL source's DuckDB file), as (path, what)."""
    import os

    import orjson

    from enrich.jobs import find_project_root
    from enrich.sources import is_glob

    found = [(store.path, "the store"), (Path(f"{store.path}.wal"), "the store's log")]
    row = store.sql("SELECT config, job_path FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        return found
    job_path = Path(row[1]) if row[1] else None
    root = find_project_root(job_path.parent if job_path else Path(os.getcwd()))
    if job_path is not None:
        found.append((job_path, "the job file"))
    source = (orjson.loads(row[0]) if row[0] else {}).get("source") or {}
    for key in ("path", "duckdb"):
        value = source.get(key)
        if not value:
            continue
        path = Path(value).expanduser()
        path = path if path.is_absolute() else root / path
        if is_glob(value):
            base = Path(path.anchor)
            found += [(match, "a source file of the job")
                      for match in base.glob(str(path.relative_to(path.anchor)))]
        else:
            found.append((path, "the job's source file"))
    return found


def refuse_overwrite(store: Store, run_id: str, out: Path) -> None:
    """Raise when ``out`` is (or links to) the store, the job file or the job's source.

    Raises:
        ConfigError: exporting to ``out`` would overwrite one of them.
    """
    import os

    target = Path(out).expanduser()
    for path, what in protected_files(store, run_id):
        same = target.resolve() == path.resolve()
        if not same and target.exists() and path.exists():
            same = os.path.samefile(target, path)  # hard links too
        if same:
            raise ConfigError(f"--out {out} is {what} ({path.resolve()}); exporting would "
                              "overwrite it", "choose another --out path")


def export_run(store: Store, run_or_job: str, out: Path, fmt: str) -> tuple[str, int]:
    """Write the run's outputs to ``out``; returns (run id, rows written)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format `{fmt}`", f"use one of {', '.join(FORMATS)}")
    run_id = resolve_run(store, run_or_job)
    refuse_overwrite(store, run_id, out)
    query = EXPORT_SQL.format(run_id=run_id.replace("'", "''"), json=JSON_AS[fmt])
    counted = store.sql(f"SELECT count(*) FROM ({query})").fetchone()
    n = int(counted[0]) if counted else 0
    target = str(out).replace("'", "''")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        store.sql(f"COPY ({query}) TO '{target}' {FORMATS[fmt]}")
    except (OSError, duckdb.IOException, duckdb.PermissionException) as exc:
        raise StoreError(f"cannot write {out}: {str(exc).splitlines()[0]}",
                         "choose a writable path with --out") from exc
    return run_id, int(n)
