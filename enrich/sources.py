"""Source rows for a job, streamed in batches through DuckDB (CSV, JSONL, Parquet or SQL).

DuckDB reads every format with the same code path and never loads the whole file into
memory: rows are fetched ``batch_size`` at a time. Checks that need the whole table (row count,
duplicate ids) run as single set-based queries before the first row is sent anywhere.

Values reach prompts as they are written. CSV columns are read as text (no type inference:
``1e5``, ``007``, ``yes`` and ``1.10`` stay exactly that) and an empty CSV field is the empty
string; ``source.types`` declares a type for a column when a template needs one. JSONL and
Parquet values keep their types, except that JSON strings are never turned into dates or
times. Nested values (structs, maps, lists) render as JSON text, nulls as the empty string (see
:mod:`enrich.prompts`). Row ids are compared as text everywhere.
"""

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson

from enrich.errors import SourceError
from enrich.jobs import JobSpec, SourceSpec

# Fields up to 64 MiB are read (DuckDB's defaults stop at 2 MB per CSV line and 16 MB per JSON
# object); a row whose rendered prompt is too long is then recorded as a failure, not sent.
_MAX_FIELD_BYTES = 64 * 1024 * 1024
_READERS = {
    "csv": f"read_csv({{path}}, header = true, all_varchar = true, sample_size = -1, "
           f"quote = '\"', escape = '\"', max_line_size = {_MAX_FIELD_BYTES})",
    "jsonl": f"read_json({{path}}, format = 'newline_delimited', "
             f"maximum_object_size = {_MAX_FIELD_BYTES})",
    "parquet": "read_parquet({path})",
}
# JSON strings DuckDB would turn into these types are read as the text they are
_REWRITTEN_JSON_TYPES = frozenset({"DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE",
                                   "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "UUID",
                                   "INTERVAL", "TIME WITH TIME ZONE"})
_BINARY_TYPES = ("BLOB", "BIT", "GEOMETRY")
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_reason(exc: Exception, limit: int = 300) -> str:
    """The informative part of a DuckDB error: its first line plus the first line that says
    what went wrong (CSV errors put the offending line, which may be huge, in between)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    reason = lines[0]
    detail = next((line for line in lines[1:] if not line.startswith(
        ("Original Line", "Possible Solution", "LINE ", "^", "file =", "See also"))), None)
    if detail is not None and re.search(r"Line: \d+$", reason):
        reason = f"{reason}: {detail}"
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def _is_encoding_error(text: str) -> bool:
    text = text.lower()
    return "unicode" in text or "utf-8" in text or "utf8" in text or "encoded" in text


_READ_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})


def _writes_in_select(query: str) -> str:
    """Why a statement DuckDB classifies as SELECT still writes ("" when it does not).

    ``WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d`` is a SELECT statement that
    deletes; its parse tree shows the DELETE, so every query node must be a reading one.
    """
    with duckdb.connect(config={"autoinstall_known_extensions": False}) as con:
        row = con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
    tree = orjson.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        return str(tree.get("error_message", "it cannot be checked"))
    found: set[str] = set()
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kind = node.get("type")
            if isinstance(kind, str) and kind.endswith("_NODE") and kind not in _READ_NODES:
                found.add(kind.removesuffix("_QUERY_NODE").removesuffix("_NODE"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return f"it contains {', '.join(sorted(found))}" if found else ""


def _ragged_csv_line(path: Path) -> str | None:
    """The first CSV line whose number of fields differs from the header's, described."""
    import csv

    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                return (f"line {reader.line_num} has {len(row)} fields but the header has "
                        f"{len(header)}")
    return None


def is_glob(path: str) -> bool:
    """True when a source path is a glob pattern (``data/*.csv``)."""
    return any(ch in path for ch in "*?[")


def files_version(root: Path, pattern: str) -> str | None:
    """A fingerprint of the files a source path names: size and modification time of one file,
    or of every file a glob matches (so adding, removing or changing a file changes it).

    Args:
        root: the project root relative paths resolve against.
        pattern: the source path (a file or a glob, relative or absolute).

    Returns:
        ``size:mtime`` for one file, ``glob:HASH`` for a glob, None when no file exists.
    """
    path = Path(pattern).expanduser()
    if not is_glob(pattern):
        target = path if path.is_absolute() else root / path
        if not target.is_file():
            return None
        stat = target.stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    base = Path(path.anchor) if path.is_absolute() else root
    relative = str(path.relative_to(path.anchor)) if path.is_absolute() else pattern
    digest = hashlib.blake2b(digest_size=16)
    for match in sorted(p for p in base.glob(relative) if p.is_file()):
        stat = match.stat()
        digest.update(f"{match}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"glob:{digest.hexdigest()}"


def _stringify_keys(value: Any) -> Any:
    """A MAP value (a dict whose keys may be numbers) with text keys, recursively, so it can
    be stored and rendered as JSON."""
    if isinstance(value, dict):
        return {str(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


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
        self._con = (store_connection if self._reads_store and store_connection is not None
                     else duckdb.connect(config={"autoinstall_known_extensions": False}))
        self._format: str | None = None
        self._file: Path | None = None
        self._relation_sql = self._build_relation_sql()
        self.types = self._describe()
        self.columns = list(self.types)
        self._check_columns()
        self._relation_sql = self._typed_relation_sql()

    @property
    def label(self) -> str:
        """A short human description of the source (file path or SQL)."""
        return self.spec.path or f"{self.spec.duckdb}: {self.spec.query}"

    def version(self) -> str | None:
        """Size and modification time of the source file, or a hash over every file a glob
        matches (None for SQL): a changed file, or a changed set of files, is a new run, so a
        resumed run never mixes two versions of its source."""
        if not self.spec.path:
            return None
        return files_version(self.job.root, self.spec.path)

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
        self._format, self._file = fmt, path
        return self._file_relation()

    def _file_relation(self, extra: str = "") -> str:
        """``SELECT * FROM read_…(file, options[, extra])`` for the source file."""
        assert self._format is not None and self._file is not None
        reader = _READERS[self._format].format(path=_sql_literal(str(self._file)))
        return "SELECT * FROM " + (reader[:-1] + f", {extra})" if extra else reader)

    def _checked_path(self, relative: str) -> Path:
        path = self.job.resolve(relative)
        if not Path(relative).is_absolute():
            root = self.job.root.resolve()
            if not path.resolve().is_relative_to(root):
                raise SourceError(
                    f"{self.job.path}: source `{relative}` points outside the project ({root})",
                    "use an absolute path if you really mean a file outside the project",
                )
        if not is_glob(relative) and not path.exists():
            raise SourceError(f"{self.job.path}: source file not found: {path}",
                              f"check `source.path`: a relative path starts at the project "
                              f"root, {self.job.root} (the nearest folder above the job file "
                              "that holds `prompts/`, else the job file's own folder)")
        if path.is_file() and path.stat().st_size == 0:
            raise SourceError(f"{self.job.path}: source file {path} is empty",
                              "add rows to it (a CSV needs a header line and one line per row)")
        return path

    def _sql_source(self, spec: SourceSpec) -> str:
        query = (spec.query or "").strip().rstrip(";")
        try:
            statements = duckdb.extract_statements(query)
        except duckdb.Error as exc:
            raise SourceError(f"{self.job.path}: `source.query` is not valid SQL: "
                              f"{duckdb_reason(exc)}", "fix the query") from exc
        single_select = len(statements) == 1 and statements[0].type == \
            duckdb.StatementType.SELECT
        writes = _writes_in_select(query) if single_select else ""
        if not single_select or writes:
            raise SourceError(f"{self.job.path}: `source.query` must be one read-only SELECT"
                              + (f" ({writes})" if writes else ""),
                              "sources are read-only; remove INSERT/UPDATE/DELETE/DDL")
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
            text = duckdb_reason(exc)
            if _is_encoding_error(text):
                raise SourceError(f"source `{self.label}` is not UTF-8 text ({text})",
                                  "re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 "
                                  "in.csv > out.csv`)") from exc
            if isinstance(exc, duckdb.ConversionException) and self.spec.types:
                raise SourceError(f"source `{self.label}`: a value does not fit the type "
                                  f"declared in `source.types` ({text})",
                                  "fix the value, or the type in `source.types`") from exc
            raise SourceError(f"cannot read source `{self.label}`: {text}",
                              "check the file and `source` settings") from exc

    def _describe(self) -> dict[str, str]:
        """Column → DuckDB type; JSON strings that DuckDB would read as dates, times or UUIDs
        are read as text instead (the reader is rebuilt with those columns as VARCHAR)."""
        types = {r[0]: str(r[1]) for r in self._run(f"DESCRIBE {self._relation_sql}").fetchall()}
        columns = list(types)
        if len(columns) == 1 and "," in columns[0] and self.spec.path and not \
                is_glob(self.spec.path):
            # DuckDB's sniffer gave up on the dialect and read one column: say which line breaks
            problem = _ragged_csv_line(self.job.resolve(self.spec.path))
            if problem:
                raise SourceError(f"source `{self.label}`: {problem}",
                                  "fix that line (quote fields that contain commas)")
        if self._format == "jsonl" and any(t in _REWRITTEN_JSON_TYPES for t in types.values()):
            types = {c: "VARCHAR" if t in _REWRITTEN_JSON_TYPES else t for c, t in types.items()}
            spec = ", ".join(f"{_sql_literal(c)}: {_sql_literal(t)}" for c, t in types.items())
            self._relation_sql = self._file_relation(f"columns = {{{spec}}}")
        return types

    def _check_columns(self) -> None:
        wanted = [self.spec.id_column, *(self.spec.columns or []), *(self.spec.types or {})]
        for name in wanted:
            if name not in self.columns:
                raise SourceError(
                    f"{self.job.path}: column `{name}` is not in source `{self.label}`",
                    f"available columns: {', '.join(self.columns)}",
                )
        used = self.spec.columns or self.columns
        for name in used:
            kind = self.types[name]
            if kind.startswith(_BINARY_TYPES) and name not in (self.spec.types or {}):
                raise SourceError(
                    f"{self.job.path}: column `{name}` of source `{self.label}` is binary "
                    f"({kind}), which a prompt cannot show",
                    f"leave it out with `source.columns`, or declare `source.types: "
                    f"{{{name}: VARCHAR}}`")

    def _typed_relation_sql(self) -> str:
        """The relation with declared types applied and empty CSV text fields as ''."""
        replace = []
        for name, kind in (self.spec.types or {}).items():
            replace.append(f"CAST({_quote_ident(name)} AS {kind}) AS {_quote_ident(name)}")
            self.types[name] = kind
        if self._format == "csv":
            replace += [f"coalesce({_quote_ident(c)}, '') AS {_quote_ident(c)}"
                        for c in self.columns
                        if c != self.spec.id_column and c not in (self.spec.types or {})]
        if not replace:
            return self._relation_sql
        sql = f"SELECT * REPLACE ({', '.join(replace)}) FROM ({self._relation_sql}) AS raw"
        self._run(f"DESCRIBE {sql}")  # an unknown type name fails here, before any row
        return sql

    def _selected_sql(self) -> str:
        cols = self.spec.columns
        keep = "*" if not cols else ", ".join(
            _quote_ident(c) for c in dict.fromkeys([self.spec.id_column, *cols]))
        limit = f" LIMIT {int(self.job.limit)}" if self.job.limit is not None else ""
        return f"SELECT {keep} FROM ({self._relation_sql}) AS src{limit}"

    def count(self) -> int:
        """Number of rows the job will see (after ``limit``)."""
        row = self._run(f"SELECT count(*) FROM ({self._selected_sql()})").fetchone()
        return int(row[0]) if row else 0

    def check_ids(self) -> None:
        """Raise when the id column has NULLs or duplicates (one set-based query), or when a
        value does not fit its declared type (``source.types``)."""
        typed = [_quote_ident(c) for c in self.spec.types or {}
                 if not self.spec.columns or c in self.spec.columns or c == self.spec.id_column]
        if typed:  # converts every declared value once, before anything is sent
            self._run(f"SELECT {', '.join(f'count({c})' for c in typed)} "
                      f"FROM ({self._selected_sql()})").fetchall()
        idc = _quote_ident(self.spec.id_column)
        sql = (f"SELECT {idc}, count(*) AS n FROM ({self._selected_sql()}) "
               f"GROUP BY {idc} HAVING n > 1 OR {idc} IS NULL LIMIT 3")
        bad = self._run(sql).fetchall()
        if bad:
            shown = ", ".join(str(r[0]) for r in bad)  # as written (None: empty)
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
        maps = [n for n in names if "MAP(" in self.types.get(n, "")]
        while True:
            try:
                chunk = cursor.fetchmany(size)
            except duckdb.ConversionException as exc:
                raise SourceError(f"source `{self.label}`: a value does not fit the type "
                                  f"declared in `source.types` ({duckdb_reason(exc)})",
                                  "fix the value, or the type in `source.types`") from exc
            except duckdb.Error as exc:
                raise SourceError(f"cannot read source `{self.label}`: {duckdb_reason(exc)}",
                                  "check the file") from exc
            if not chunk:
                return
            rows = [dict(zip(names, values, strict=True)) for values in chunk]
            for row in rows if maps else ():
                for name in maps:
                    row[name] = _stringify_keys(row[name])
            yield rows
