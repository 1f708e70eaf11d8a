"""A project for the scale-out tests (batch files, Ray): 24 rows whose prompts repeat, and a
view of what a store holds for its latest run."""

from pathlib import Path
from typing import Any

import duckdb
import orjson
from conftest import REPO, write_job

ROWS = ["movie_id,title,year,genres"] + [f"{i},Film {i % 9},19{50 + i % 9},Drama"
                                         for i in range(1, 25)]  # 24 rows, 9 distinct prompts


def batch_project(root: Path, url: str = "http://127.0.0.1:9/v1") -> Path:
    """A project whose job's rows repeat prompts (rows 1, 10 and 19 render the same)."""
    for folder in ("prompts", "schemas"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "prompts" / "item_metadata.yaml").write_text(
        (REPO / "prompts" / "item_metadata.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "schemas" / "item_metadata.py").write_text(
        (REPO / "schemas" / "item_metadata.py").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "jobs").mkdir(exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "movies.csv").write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    write_job(root, "name: movies\nsource: {path: data/movies.csv, id_column: movie_id}\n"
                    f"prompt: item_metadata\nbackend: {{kind: openai, model: test-model, "
                    f"base_url: '{url}'}}\nconcurrency: 4\n")
    return root / "jobs" / "job.yaml"


def stored(db: Path) -> dict[str, Any]:
    """row id → ("ok", cached, output) or ("failed", kind), for the store's latest run."""
    with duckdb.connect(str(db), read_only=True) as con:
        run = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        ok = con.execute("SELECT o.row_id, o.cached, q.output FROM outputs o JOIN requests q "
                         "USING (key) WHERE o.run_id = ?", [run[0]]).fetchall()
        failed = con.execute("SELECT row_id, error_kind FROM failures WHERE run_id = ?",
                             [run[0]]).fetchall()
    found: dict[str, Any] = {r: ("ok", c, orjson.loads(o)) for r, c, o in ok}
    assert not set(found) & {r for r, _ in failed}, "a row is both stored and failed"
    found.update({r: ("failed", k) for r, k in failed})
    return found
