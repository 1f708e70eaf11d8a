"""Golden sets: human-labelled rows in CSV or JSONL, with qrels and a corpus for retrieval.

Ids are read as strings (they join to the store's ``row_id``). Every problem names the file and
the column and says what to fix.

Example:
    >>> rows = load_golden(Path("eval/golden/homedepot_bad_match.csv"), "pair_id",
    ...                    required=["relevance"])               # doctest: +SKIP
"""

import csv
import json
from pathlib import Path

import pandas as pd

from enrich.errors import ConfigError

_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "jsonl"}


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"golden file not found: {path}",
                          "check `golden.path` in the suite (paths are relative to the project "
                          "root); `python eval/golden/build_golden.py` rebuilds the shipped ones")
    fmt = _FORMATS.get(path.suffix.lower())
    try:
        if fmt == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if fmt == "tsv":
            return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        if fmt == "jsonl":
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip()]
            return pd.DataFrame.from_records(records)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ConfigError(f"cannot read golden file {path}: {exc}",
                          "fix the file (UTF-8 CSV with a header, or one JSON object per line)"
                          ) from exc
    raise ConfigError(f"cannot tell the format of golden file {path}",
                      "use a .csv, .tsv or .jsonl file")


def load_golden(path: Path, id_column: str, required: list[str] | None = None) -> pd.DataFrame:
    """Golden rows with ``id_column`` as unique strings.

    Raises:
        ConfigError: missing file or column, empty file, or duplicate ids.
    """
    frame = _read(Path(path))
    missing = [c for c in [id_column, *(required or [])] if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path} has no column(s) {', '.join(missing)}",
                          f"its columns are {', '.join(map(str, frame.columns))}; fix the suite "
                          "or the file")
    if frame.empty:
        raise ConfigError(f"{path} has no rows", "add labelled rows")
    frame[id_column] = frame[id_column].astype(str)
    dupes = frame[id_column][frame[id_column].duplicated()].unique().tolist()
    if dupes:
        raise ConfigError(f"{path}: duplicate id(s) in `{id_column}`: {', '.join(dupes[:5])}",
                          "every golden row needs its own id")
    return frame.reset_index(drop=True)


def numeric_column(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A column as floats; a cell that is not a number is an error naming its row."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame.index[values.isna()].tolist()
    if bad:
        raise ConfigError(f"{path}: column `{column}` is not a number in row {bad[0] + 2} "
                          f"({frame[column].iloc[bad[0]]!r})",
                          "human ratings must be numbers; use `human.kind: label` for classes")
    return values.astype(float)


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Qrels from a TSV/CSV with a header ``query_id, doc_id, gain`` (3 columns in order).

    Example:
        >>> load_qrels(Path("eval/golden/cranfield_qrels.tsv"))["8"]   # doctest: +SKIP
        {'20': 2, '48': 4, ...}
    """
    if not Path(path).is_file():
        raise ConfigError(f"qrels file not found: {path}", "check `golden.qrels` in the suite")
    delimiter = "\t" if Path(path).suffix.lower() in (".tsv", ".txt") else ","
    qrels: dict[str, dict[str, int]] = {}
    with Path(path).open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        for number, row in enumerate(reader, start=2):
            if len(row) < 3:
                raise ConfigError(f"{path} line {number}: expected query_id, doc_id, gain",
                                  "use three columns, tab-separated for .tsv")
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
            except ValueError as exc:
                raise ConfigError(f"{path} line {number}: gain {row[2]!r} is not a number",
                                  "gains are integers (0 = not relevant)") from exc
    return qrels


def load_corpus(path: Path, id_column: str, text_columns: list[str]) -> dict[str, str]:
    """Documents as id → text (the text columns joined with a space)."""
    frame = load_golden(path, id_column, text_columns)
    texts = frame[text_columns].fillna("").astype(str).agg(" ".join, axis=1).str.strip()
    return dict(zip(frame[id_column], texts, strict=True))
