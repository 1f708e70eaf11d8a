"""Run ``enrich`` as a user does (a subprocess) and read back what the store holds.

The conformance project is a throw-away copy of the repository's prompts/, schemas/, jobs/ and
data/samples/, so the shipped jobs run unchanged except for one line: the match-labels job's
query-likelihood scorer is dropped (it loads SmolLM2 in process to score pairs after the run,
which has nothing to do with the server under test and would double the CPU time).
"""

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from enrich.store import Store

REPO = Path(__file__).resolve().parents[2]

# task -> (shipped job, rows to run: enough to see a rate, few enough for SmolLM2 on 2 cores)
TASK_JOBS: dict[str, tuple[str, int]] = {
    "item_metadata": ("homedepot_item_metadata.yaml", 3),
    "synthetic_queries": ("homedepot_synthetic_queries.yaml", 3),
    "user_summaries": ("movielens_user_summaries.yaml", 3),
    "bad_match": ("homedepot_match_labels.yaml", 5),
    "query_understanding": ("homedepot_query_parses.yaml", 3),
}


def make_project(dest: Path) -> Path:
    """Copy prompts/, schemas/, jobs/ and data/samples/ into ``dest`` (see the module doc)."""
    for folder in ("prompts", "schemas", "jobs"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data" / "samples", dest / "data" / "samples",
                    ignore=shutil.ignore_patterns("*.py", "*.md"))
    labels = dest / "jobs" / TASK_JOBS["bad_match"][0]
    labels.write_text("".join(line for line in labels.read_text().splitlines(keepends=True)
                              if "query_likelihood" not in line))
    return dest


def enrich_command() -> list[str]:
    """The installed ``enrich`` script next to this interpreter (as `make setup` installs it)."""
    script = Path(sys.executable).parent / "enrich"
    return [str(script)] if script.exists() else [sys.executable, "-m", "enrich.cli"]


@dataclass
class CliResult:
    """What one ``enrich`` command did."""

    args: list[str]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    def error_lines(self) -> list[str]:
        """The non-empty lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    def describe(self) -> str:
        """One line for assertion messages."""
        tail = " | ".join(self.error_lines()[-3:]) or self.stdout.strip()[-300:]
        return f"exit {self.exit_code} after {self.seconds:.1f} s: {tail}"


def cli_env(api_key: str | None, key_env: str) -> dict[str, str]:
    """The environment of an ``enrich`` subprocess: ours, plus the API key variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENRICH_DB")}
    if api_key is not None:
        env[key_env] = api_key
    return env


def run_enrich(args: list[str], cwd: Path, env: dict[str, str],
               timeout_s: float = 900.0) -> CliResult:
    """Run ``enrich ARGS`` to completion."""
    started = time.perf_counter()
    proc = subprocess.run([*enrich_command(), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout_s, check=False)
    return CliResult(args, proc.returncode, proc.stdout, proc.stderr,
                     time.perf_counter() - started)


def start_enrich(args: list[str], cwd: Path, env: dict[str, str],
                 log: Path) -> subprocess.Popen[bytes]:
    """Start ``enrich ARGS`` in the background, output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen([*enrich_command(), *args], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def run_args(job: Path, db: Path, base_url: str, dialect: str, model: str, limit: int,
             key_env: str | None) -> list[str]:
    """``enrich run`` arguments for a job against an OpenAI-compatible server."""
    args = ["run", str(job), "--backend", "openai", "--base-url", base_url, "--server", dialect,
            "--model", model, "--limit", str(limit), "--db", str(db), "--quiet"]
    return [*args, "--api-key-env", key_env] if key_env else args


@dataclass
class StoreFacts:
    """The latest run in a store: its status, stored requests and failures."""

    run_status: str | None = None
    rows_ok: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_failed(self) -> int:
        return len(self.failures)

    def failure_kinds(self) -> Counter[str]:
        return Counter(str(f["error_kind"]) for f in self.failures)

    def answers(self) -> list[str]:
        """Every raw answer the server gave that was stored (ok rows and failed rows)."""
        texts = [r["content"] for r in self.requests] + [f["content"] for f in self.failures]
        return [t for t in texts if t is not None]


_REQUEST_COLUMNS = ("key", "content", "logprobs", "prompt_tokens", "completion_tokens", "sends",
                    "finish_reason")
_FAILURE_COLUMNS = ("row_id", "error_kind", "message", "content", "sends")


def read_store(db: Path) -> StoreFacts:
    """What the store says about its latest run (an empty StoreFacts when there is none)."""
    if not db.exists():
        return StoreFacts()
    with Store(db, read_only=True) as store:
        run = store.sql("SELECT run_id, status FROM runs ORDER BY started_at DESC "
                          "LIMIT 1").fetchone()
        if run is None:
            return StoreFacts()
        run_id = run[0]
        rows_ok = store.sql("SELECT count(*) FROM outputs WHERE run_id = ?", [run_id]).fetchone()
        requests = store.sql(
            f"SELECT {', '.join('q.' + c for c in _REQUEST_COLUMNS)} FROM outputs o "
            "JOIN requests q USING (key) WHERE o.run_id = ?", [run_id]).fetchall()
        failures = store.sql(f"SELECT {', '.join(_FAILURE_COLUMNS)} FROM failures "
                             "WHERE run_id = ?", [run_id]).fetchall()
    return StoreFacts(
        run_status=run[1], rows_ok=int(rows_ok[0]) if rows_ok else 0,
        requests=[_decoded(dict(zip(_REQUEST_COLUMNS, r, strict=True))) for r in requests],
        failures=[dict(zip(_FAILURE_COLUMNS, f, strict=True)) for f in failures])


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("logprobs"), str):
        row["logprobs"] = orjson.loads(row["logprobs"])
    return row


def view_rows(db: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of a read-only query over the store, as dicts."""
    with Store(db, read_only=True) as store:
        cursor = store.sql(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
