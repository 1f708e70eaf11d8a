"""Source rows for a job, streamed in batches through DuckDB (CSV, JSONL, Parquet or SQL).

DuckDB reads every format with the same code path and never loads the whole file into
memory: rows are fetched ``batch_size`` at a time. Checks that need the whole table (row count,
duplicate ids) run as single set-based queries before the first row is sent anywhere.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from enrich.errors import SourceError
from enrich.jobs import JobSpec, SourceSpec

_READERS = {
    "csv": "read_csv({path}, header = true, sample_size = -1)",
    "jsonl": "read_json({path}, format = 'newline_delimited')",
    "parquet": "read_parquet({path})",
}
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class RowSource:
    """Rows of a job's source, with validation and batched streaming.

    Args:
        job: the job whose ``source`` to read.
        store_connection: a read cursor on the results store, used when the job's SQL reads
            the store itself (a file cannot be opened twice in one process).
        store_path: the store's file, to recognise that case.

    Example:
        >>> source = RowSource(job)                                 # doctest: +SKIP
        >>> for batch in source.batches(1000): ...                  # doctest: +SKIP
    """

    def __init__(self, job: JobSpec, store_connection: duckdb.DuckDBPyConnection | None = None,
                 store_path: Path | None = None):
        self.spec: SourceSpec = job.source
        self.job = job
        self._reads_store = bool(
            store_connection is not None and store_path is not None and job.source.duckdb
            and job.resolve(job.source.duckdb).resolve() == Path(store_path).resolve())
        self._con = store_connection if self._reads_store else duckdb.connect()
        self._relation_sql = self._build_relation_sql()
        self.columns = self._describe()
        self._check_columns()

    @property
    def label(self) -> str:
        """A short human description of the source (file path or SQL)."""
        return self.spec.path or f"{self.spec.duckdb}: {self.spec.query}"

    def _build_relation_sql(self) -> str:
        spec = self.spec
        if spec.query is not None:
            return self._sql_source(spec)
        path = self._checked_path(spec.path or "")
        fmt = spec.format or _EXTENSIONS.get(path.suffix.lower())
        if fmt is None:
            raise SourceError(
                f"{self.job.path}: cannot tell the format of source `{spec.path}`",
                "set `source.format` to csv, jsonl or parquet",
            )
        return "SELECT * FROM " + _READERS[fmt].format(path=_sql_literal(str(path)))

    def _checked_path(self, relative: str) -> Path:
        path = self.job.resolve(relative)
        if not Path(relative).is_absolute():
            root = self.job.root.resolve()
            if not path.resolve().is_relative_to(root):
                raise SourceError(
                    f"{self.job.path}: source `{relative}` points outside the project ({root})",
                    "use an absolute path if you really mean a file outside the project",
                )
        if "*" not in relative and not path.exists():
            raise SourceError(f"{self.job.path}: source file not found: {path}",
                              "check `source.path` (relative paths start at the project root)")
        return path

    def _sql_source(self, spec: SourceSpec) -> str:
        query = (spec.query or "").strip().rstrip(";")
        try:
            statements = duckdb.extract_statements(query)
        except duckdb.Error as exc:
            raise SourceError(f"{self.job.path}: `source.query` is not valid SQL: {exc}",
                              "fix the query") from exc
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise SourceError(f"{self.job.path}: `source.query` must be one read-only SELECT",
                              "sources are read-only; remove INSERT/UPDATE/DDL statements")
        if self.spec.duckdb and not self._reads_store:
            db = self._checked_path(self.spec.duckdb)
            self._run(f"ATTACH {_sql_literal(str(db))} AS enrich_source (READ_ONLY)")
            self._run("USE enrich_source")
        return query

    def _run(self, sql: str) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql)
        except UnicodeDecodeError as exc:
            raise SourceError(f"source `{self.label}` is not valid UTF-8 ({exc.reason})",
                              "re-encode the file as UTF-8") from exc
        except duckdb.Error as exc:
            text = str(exc).splitlines()[0]
            hint = "check the file and `source` settings"
            if "unicode" in text.lower() or "utf-8" in text.lower() or "utf8" in text.lower():
                hint = "re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
            raise SourceError(f"cannot read source `{self.label}`: {text}", hint) from exc

    def _describe(self) -> list[str]:
        rows = self._run(f"DESCRIBE {self._relation_sql}").fetchall()
        return [r[0] for r in rows]

    def _check_columns(self) -> None:
        wanted = [self.spec.id_column, *(self.spec.columns or [])]
        for name in wanted:
            if name not in self.columns:
                raise SourceError(
                    f"{self.job.path}: column `{name}` is not in source `{self.label}`",
                    f"available columns: {', '.join(self.columns)}",
                )

    def _selected_sql(self) -> str:
        cols = self.spec.columns
        keep = "*" if not cols else ", ".join(
            _quote_ident(c) for c in dict.fromkeys([self.spec.id_column, *cols]))
        limit = f" LIMIT {int(self.job.limit)}" if self.job.limit is not None else ""
        return f"SELECT {keep} FROM ({self._relation_sql}) AS src{limit}"

    def count(self) -> int:
        """Number of rows the job will see (after ``limit``)."""
        return int(self._run(f"SELECT count(*) FROM ({self._selected_sql()})").fetchone()[0])

    def check_ids(self) -> None:
        """Raise when the id column has NULLs or duplicates (one set-based query)."""
        idc = _quote_ident(self.spec.id_column)
        sql = (f"SELECT {idc}, count(*) AS n FROM ({self._selected_sql()}) "
               f"GROUP BY {idc} HAVING n > 1 OR {idc} IS NULL LIMIT 3")
        bad = self._run(sql).fetchall()
        if bad:
            shown = ", ".join(repr(r[0]) for r in bad)
            raise SourceError(
                f"{self.job.path}: id column `{self.spec.id_column}` has duplicate or empty "
                f"values ({shown})",
                "ids must be unique: dedupe the source or choose another `source.id_column`",
            )

    def batches(self, size: int = 1000, skip_ids: set[str] | None = None
                ) -> Iterator[list[dict[str, Any]]]:
        """Yield rows as dicts, ``size`` at a time, in source order."""
        cursor = self._run(self._selected_sql())
        names = [d[0] for d in cursor.description]
        while True:
            try:
                chunk = cursor.fetchmany(size)
            except duckdb.Error as exc:
                raise SourceError(f"cannot read source `{self.label}`: {exc}",
                                  "check the file") from exc
            if not chunk:
                return
            yield [dict(zip(names, values, strict=True)) for values in chunk]
