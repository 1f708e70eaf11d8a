"""Shared pieces of the reliability harness: projects, job files, CLI calls and store checks.

The projects built here carry their own small prompt and schema (not the repository's), so the
harness does not change when someone edits ``prompts/`` or ``schemas/``. The crash and soak
code (``crash_cycles``) lives here too, so ``bench/crash_soak.py`` and the CI tests run the same
procedure at different sizes.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

REPO = Path(__file__).resolve().parent.parent
ENRICH = [sys.executable, "-m", "enrich.cli"]
TABLES = ("runs", "requests", "outputs", "failures", "prompt_versions")

PROMPT = """name: label_item
description: A short label and up to three keywords for a catalogue item.
schema: ItemLabel
params: {temperature: 0.0, max_tokens: 200}
system: You label catalogue items for a search engine. Answer with JSON only.
user: |
  Item {{ item_id }}: {{ title }}
  Answer with a JSON object: "label" (a few words) and "keywords" (up to 3).
"""

SCHEMA = '''"""The output contract of the reliability harness's prompt."""

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ItemLabel"]


class ItemLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=40)
    keywords: list[str] = Field(max_length=3)
'''


def make_project(root: Path, rows: int = 5) -> Path:
    """A project folder with ``prompts/label_item.yaml``, its schema and ``data/items.csv``."""
    for folder in ("prompts", "schemas", "jobs", "data"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "prompts" / "label_item.yaml").write_text(PROMPT, encoding="utf-8")
    (root / "schemas" / "item_label.py").write_text(SCHEMA, encoding="utf-8")
    write_rows(root, rows)
    return root


def write_rows(project: Path, rows: int, name: str = "items.csv") -> Path:
    """``data/NAME`` with ``rows`` rows of ``item_id,title``."""
    lines = ["item_id,title", *(f"{i},Item number {i}" for i in range(rows))]
    path = project / "data" / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def job_yaml(url: str, *, name: str = "items", source: str = "data/items.csv",
             concurrency: int = 4, backend_extra: str = "", extra: str = "") -> str:
    """A job over the project's items against the OpenAI-compatible server at ``url``."""
    backend = f"kind: openai, model: test-model, base_url: '{url}'"
    if backend_extra:
        backend += ", " + backend_extra
    return (f"name: {name}\nsource: {{path: {source}, id_column: item_id}}\n"
            f"prompt: label_item\nbackend: {{{backend}}}\nconcurrency: {concurrency}\n{extra}")


def write_job(project: Path, text: str, name: str = "job.yaml") -> Path:
    path = project / "jobs" / name
    path.write_text(text, encoding="utf-8")
    return path


# -- running the CLI ------------------------------------------------------------------------------


@dataclass
class CliResult:
    """Exit code and captured output of one ``enrich`` invocation."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@contextlib.contextmanager
def _patched_process_state(cwd: Path, argv: list[str], env: dict[str, str]) -> Iterator[None]:
    import signal

    old_cwd, old_argv, old_sigterm = Path.cwd(), sys.argv, signal.getsignal(signal.SIGTERM)
    old_env = {k: os.environ.get(k) for k in env}
    os.chdir(cwd)
    sys.argv = argv
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.argv = old_argv
        signal.signal(signal.SIGTERM, old_sigterm)  # main() makes SIGTERM a Ctrl-C
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_cli(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    """``enrich ARGS`` in this process (``enrich.cli.main``, exactly what the script runs).

    An exception escaping ``main`` is a test failure: the CLI must turn every error into a
    message and an exit code.
    """
    from enrich.cli import main

    out, err = io.StringIO(), io.StringIO()
    full_env = {"ENRICH_CACHE_DIR": str(cwd / ".cache"), **(env or {})}
    code = 0
    with _patched_process_state(cwd, ["enrich", *args], full_env), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())


def process_env(cwd: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENRICH_")}
    return {**base, "ENRICH_CACHE_DIR": str(cwd / ".cache"), "PYTHONUNBUFFERED": "1",
            **(env or {})}


def start_cli(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
              **popen: Any) -> subprocess.Popen[str]:
    """``enrich ARGS`` as a child process (for kills, locks and resource limits)."""
    return subprocess.Popen([*ENRICH, *args], cwd=cwd, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=process_env(cwd, env), **popen)


def run_cli_process(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
                    timeout: float = 120, **popen: Any) -> CliResult:
    process = start_cli(args, cwd, env, **popen)
    out, err = process.communicate(timeout=timeout)
    return CliResult(process.returncode, out, err)


def movies_job(project: Path, url: str) -> Path:
    """``jobs/movies.yaml``: item metadata over the conftest project's movies, one repair,
    against the OpenAI-compatible server at ``url``."""
    job = project / "jobs" / "movies.yaml"
    job.write_text("name: movies\nsource: {path: data/movies.csv, id_column: movie_id}\n"
                   "prompt: item_metadata\nrepair_attempts: 1\nbackend: {kind: openai, "
                   f"model: test-model, base_url: '{url}'}}\n", encoding="utf-8")
    return job


def summary_number(text: str, label: str) -> int:
    """The number after ``label`` in a run summary (``tokens in   1,234`` → 1234)."""
    found = re.search(rf"{label}\s+([\d,]+)", text)
    assert found, (label, text)
    return int(found.group(1).replace(",", ""))


# -- looking into the store ----------------------------------------------------------------------


def apply_old_migrations(con: duckdb.DuckDBPyConnection, version: int,
                         extra: dict[int, str] | None = None) -> None:
    """Give ``con`` the tables of a store written by an enrich whose last migration was
    ``version`` (``extra``: SQL run with a migration, e.g. the views old migrations made)."""
    from enrich.store.migrations import MIGRATIONS

    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
                "applied_at TIMESTAMP)")
    for number, name, ddl in MIGRATIONS[:version]:
        con.execute(ddl + (extra or {}).get(number, ""))
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])


def table_counts(db: Path) -> dict[str, int]:
    """Rows per table (all zero when the file does not exist)."""
    if not db.exists():
        return dict.fromkeys(TABLES, 0)
    with duckdb.connect(str(db), read_only=True) as con:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables"
                                             ).fetchall()}
        return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                if t in present else 0 for t in TABLES}


def committed_keys(db: Path) -> set[str]:
    """Request keys whose result (a validated response or a failure) is committed."""
    if not db.exists():
        return set()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT key FROM requests UNION SELECT key FROM failures "
                           "WHERE key IS NOT NULL").fetchall()
    return {r[0] for r in rows}


def rows_by_table(db: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(row ids in outputs, [(row id, error kind, key)] in failures), duplicates kept."""
    with duckdb.connect(str(db), read_only=True) as con:
        outputs = [r[0] for r in con.execute("SELECT row_id FROM outputs").fetchall()]
        failures = con.execute("SELECT row_id, error_kind, key FROM failures").fetchall()
    return outputs, [(r[0], r[1], r[2]) for r in failures]


def assert_store_sound(db: Path, cwd: Path) -> dict[str, Any]:
    """``enrich status --check`` passes and no table holds a partial row; returns the report."""
    result = run_cli(["status", "--db", str(db), "--check", "--json"], cwd)
    assert result.code == 0, result.stdout + result.stderr
    report = orjson.loads(result.stdout)
    assert report["problems"] == {}, report["problems"]
    assert_no_partial_rows(db)
    return report


def assert_no_partial_rows(db: Path) -> None:
    """Every stored output parses and validates; every row has all its required fields."""
    from pydantic import BaseModel, ConfigDict, Field

    class ItemLabel(BaseModel):
        model_config = ConfigDict(extra="forbid")
        label: str = Field(min_length=1, max_length=40)
        keywords: list[str] = Field(max_length=3)

    with duckdb.connect(str(db), read_only=True) as con:
        for key, output, messages in con.execute(
                "SELECT key, output, messages FROM requests").fetchall():
            ItemLabel.model_validate_json(output)
            assert orjson.loads(messages), key
        for row_id, key, source in con.execute(
                "SELECT row_id, key, input FROM outputs").fetchall():
            assert row_id and key and orjson.loads(source) is not None
        for row_id, kind, message in con.execute(
                "SELECT row_id, error_kind, message FROM failures").fetchall():
            assert row_id and kind and message, (row_id, kind, message)


def read_only_folder(path: Path, cleanups: list[Any]) -> Path:
    """A folder nobody can write to: chmod for ordinary users; a read-only tmpfs for root."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        cleanups.append(lambda: path.chmod(0o755))
        return path
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs: {mounted.stderr}")
    cleanups.append(lambda: subprocess.run(["umount", str(path)], capture_output=True))
    return path
