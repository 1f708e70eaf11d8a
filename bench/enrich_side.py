"""Running `enrich` itself in the benchmark: a throw-away project, job files, result checks."""

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench.procs import REPO, MeasuredProcess, ProcessRun
from bench.workload import MODEL, is_valid_output, make_rows

PROJECT_TEMPLATE = REPO / "bench" / "project"
ENRICH = [sys.executable, "-m", "enrich.cli"]
# rich draws the live progress bar only on a terminal; this makes it draw into the captured
# stderr too, so the benchmark pays for the bar like a user at a terminal does.
PROGRESS_ENV = {"TTY_COMPATIBLE": "1", "COLUMNS": "120", "ENRICH_DEBUG": "1"}


@dataclass
class EnrichProject:
    """``bench/project`` copied into the output folder, plus source files and jobs."""

    root: Path

    @classmethod
    def create(cls, root: Path) -> "EnrichProject":
        if root.exists():
            shutil.rmtree(root)
        shutil.copytree(PROJECT_TEMPLATE, root, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "jobs").mkdir()
        (root / "data").mkdir()
        return cls(root)

    def source(self, rows: int) -> Path:
        """A Parquet file with ``rows`` workload rows (written once, with DuckDB)."""
        path = self.root / "data" / f"rows_{rows}.parquet"
        if not path.exists():
            data = make_rows(rows)
            with duckdb.connect() as con:
                con.execute("CREATE TABLE t AS SELECT unnest($ids) AS id, unnest($titles) AS "
                            "title", {"ids": [r["id"] for r in data],
                                      "titles": [r["title"] for r in data]})
                con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
        return path

    def job(self, name: str, rows: int, url: str, concurrency: int) -> Path:
        """A job file over ``rows`` rows against the test server."""
        path = self.root / "jobs" / f"{name}.yaml"
        path.write_text(
            f"name: {name}\n"
            f"source: {{path: '{self.source(rows)}', id_column: id}}\n"
            "prompt: bench_keywords\n"
            f"backend: {{kind: openai, model: {MODEL}, base_url: '{url}'}}\n"
            f"concurrency: {concurrency}\n", encoding="utf-8")
        return path

    def start(self, job: Path, db: Path, *, quiet: bool = False) -> MeasuredProcess:
        """Start ``enrich run JOB --db DB`` as its own process, progress bar on unless
        ``quiet``."""
        cmd = [*ENRICH, "run", str(job), "--db", str(db), *(["-q"] if quiet else [])]
        env = {**PROGRESS_ENV, "ENRICH_CACHE_DIR": str(self.root / ".cache")}
        return MeasuredProcess(cmd, env=env, cwd=self.root)

    def run(self, job: Path, db: Path, *, quiet: bool = False) -> ProcessRun:
        """Run the job to the end; raises if `enrich run` fails."""
        result = self.start(job, db, quiet=quiet).wait()
        if result.returncode != 0:
            raise RuntimeError(f"enrich run failed ({result.returncode}): {result.stderr[-2000:]}")
        return result


@dataclass
class StoredRun:
    """What the store says about the latest run of a job."""

    run_id: str
    status: str
    wall_s: float
    rows_total: int
    returned: int
    valid: int
    cached: int
    transactions: int = 0


def stored_run(db: Path, job_name: str) -> StoredRun:
    """Count and re-validate (with the workload's own checker) the rows a run stored."""
    with duckdb.connect(str(db), read_only=True) as con:
        run_id, status, wall_s, total = con.execute(
            "SELECT run_id, status, wall_s, rows_total FROM runs WHERE job_name = ? "
            "ORDER BY started_at DESC LIMIT 1", [job_name]).fetchone()
        outputs = con.execute(
            "SELECT o.row_id, q.output, o.cached FROM outputs o JOIN requests q USING (key) "
            "WHERE o.run_id = ?", [run_id]).fetchall()
    valid = sum(1 for _, output, _ in outputs if is_valid_output(json.loads(output)))
    cached = sum(1 for *_, c in outputs if c)
    return StoredRun(run_id, status, float(wall_s or 0.0), int(total or 0), len(outputs), valid,
                     cached)
