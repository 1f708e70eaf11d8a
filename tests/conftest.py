"""Shared fixtures: a throw-away project folder with the repository's prompts and schemas."""

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

MOVIES_CSV = """movie_id,title,year,genres,tags
1,Toy Story,1995,Adventure|Animation|Children|Comedy|Fantasy,pixar; fun
2,Jumanji,1995,Adventure|Children|Fantasy,Robin Williams; game
3,Heat,1995,Action|Crime|Thriller,Al Pacino; Robert De Niro
4,Casino,1995,Crime|Drama,Scorsese; mafia
5,Sabrina,1995,Comedy|Romance,remake
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder: prompts/, schemas/, jobs/ and data/movies.csv (5 rows)."""
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "jobs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "movies.csv").write_text(MOVIES_CSV, encoding="utf-8")
    return tmp_path


def write_job(project: Path, text: str, name: str = "job.yaml") -> Path:
    """Write a job file into ``project/jobs`` and return its path."""
    path = project / "jobs" / name
    path.write_text(text, encoding="utf-8")
    return path


BASIC_JOB = """name: movies
source: {path: data/movies.csv, id_column: movie_id}
prompt: item_metadata
backend: {kind: llamacpp, model: smollm2-135m}
"""
