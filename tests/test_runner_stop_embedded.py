"""The embedded llama.cpp backend stops within 5 s too, even in the middle of a long answer:
the stop reaches llama.cpp's sampling loop (a logits processor), so the worker thread returns
at the next token instead of holding the process until the row is finished."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reliability_helpers import make_project, start_cli, write_job

from enrich.store import Store

LONG_PROMPT = """name: essay
schema: Essay
params: {temperature: 0.7, max_tokens: 4000}
user: |
  Write a very long essay, with many sections, about item {{ item_id }}: {{ title }}.
"""
LONG_SCHEMA = '''from pydantic import BaseModel, ConfigDict

__all__ = ["Essay"]


class Essay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    essay: str  # unbounded: a bounded string of thousands of characters makes a grammar
    sections: list[str]  # that takes llama.cpp seconds to build (not what this tests)
'''


@pytest.mark.slow
def test_sigterm_in_the_middle_of_an_embedded_generation_exits_within_5_s(tmp_path: Path
                                                                           ) -> None:
    project = make_project(tmp_path / "project", rows=3)
    (project / "prompts" / "essay.yaml").write_text(LONG_PROMPT, encoding="utf-8")
    (project / "schemas" / "essay.py").write_text(LONG_SCHEMA, encoding="utf-8")
    job = write_job(project, "name: essays\nsource: {path: data/items.csv, id_column: item_id}"
                             "\nprompt: essay\nbackend: {kind: llamacpp, model: smollm2-135m, "
                             "n_threads: 2}\nconcurrency: 1\n")
    process = start_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
    try:
        _stop_and_time(process, project)
    finally:
        if process.poll() is None:
            process.kill()


def _stop_and_time(process: subprocess.Popen[str], project: Path) -> None:
    deadline = time.monotonic() + 60
    while not (project / "e.duckdb").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    time.sleep(4.0)  # loading the model or writing the first essay: it must stop either way
    assert process.poll() is None, "the first essay finished too early for this test"
    os.kill(process.pid, signal.SIGTERM)
    stopped = time.monotonic()
    out, err = process.communicate(timeout=120)
    took = time.monotonic() - stopped
    assert took < 5.0, f"exited {took:.1f} s after SIGTERM"
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err, out + err
    with Store(project / "e.duckdb", read_only=True) as store:  # the cut row stays pending
        assert store.sql("SELECT count(*) FROM failures").fetchone()[0] == 0
