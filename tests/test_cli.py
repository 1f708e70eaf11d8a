"""The command line as a user meets it: --debug, run/status/export over HTTP, prompts, imports.

Every user mistake and its one-line message is in the bad-input catalogue
(``reliability_catalogue.py``, run by ``test_reliability_inputs.py``).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from conftest import BASIC_JOB, REPO, write_job

from enrich.testing.fake_server import FakeServer, FakeServerConfig

ENRICH = [sys.executable, "-m", "enrich.cli"]


def enrich(*args: str, cwd: Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ENRICH_CACHE_DIR": str(cwd / ".cache"), **(env or {})}
    return subprocess.run([*ENRICH, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=full_env)


def http_job(project: Path, url: str) -> Path:
    text = BASIC_JOB.replace("backend: {kind: llamacpp, model: smollm2-135m}",
                             f"backend: {{kind: openai, model: test-model, base_url: '{url}'}}"
                             "\nconcurrency: 4")
    return write_job(project, text)


def test_debug_flag_shows_the_traceback(project: Path) -> None:
    path = write_job(project, "name: x\nsource: [unclosed\n")
    result = enrich("--debug", "run", str(path), cwd=project)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_run_status_export_and_rerun_over_http(project: Path) -> None:
    with FakeServer(FakeServerConfig()) as server:
        path = http_job(project, server.url)
        first = enrich("run", str(path), "--db", "e.duckdb", "-q", cwd=project)
        assert first.returncode == 0, first.stderr
        assert "requests sent" in first.stdout and "finished" in first.stdout
        second = enrich("run", str(path), "--db", "e.duckdb", "-q", cwd=project)
        assert second.returncode == 0
        assert server.stats()["requests_total"] == 5
    status = enrich("status", "--db", "e.duckdb", "--json", "--check", cwd=project)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["problems"] == {}
    latest, first_run = report["runs"]
    assert (latest["cached"], latest["ok"], first_run["ok"]) == (5, 0, 5)
    for fmt in ("parquet", "jsonl", "csv"):
        out = project / f"out.{fmt}"
        exported = enrich("export", "movies", "--format", fmt, "--out", str(out),
                          "--db", "e.duckdb", cwd=project)
        assert exported.returncode == 0, exported.stderr
        assert "exported 5 rows" in exported.stdout
    rows = duckdb.sql(f"SELECT row_id, output->>'clean_title' FROM '{project / 'out.parquet'}' "
                      "ORDER BY row_id").fetchall()
    assert len(rows) == 5 and all(title for _, title in rows)


def test_rerun_of_a_finished_job_needs_no_server_and_imports_no_client(project: Path) -> None:
    with FakeServer(FakeServerConfig()) as server:
        path = http_job(project, server.url)
        assert enrich("run", str(path), "--db", "e.duckdb", "-q", cwd=project).returncode == 0
    # the server is gone: the rerun copies the finished run and never makes a backend
    code = ("import sys\nfrom enrich.cli import main\n"
            f"sys.argv = ['enrich', 'run', {str(path)!r}, '--db', 'e.duckdb', '-q']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    print('EXIT', exc.code)\n"
            "print('LOADED', [m for m in ('aiohttp', 'llama_cpp') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=project, timeout=120,
                            env={**os.environ, "ENRICH_CACHE_DIR": str(project / ".cache")})
    assert "LOADED []" in result.stdout, result.stdout + result.stderr
    assert "cached" in result.stdout and "EXIT 1" not in result.stdout


def test_run_reads_another_source_file_with_the_same_columns(project: Path) -> None:
    lines = (project / "data" / "movies.csv").read_text(encoding="utf-8").splitlines()
    (project / "new_drop.csv").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    with FakeServer(FakeServerConfig()) as server:
        path = http_job(project, server.url)
        result = enrich("run", str(path), "--db", "e.duckdb", "-q", "--source", "new_drop.csv",
                        cwd=project)
        assert result.returncode == 0, result.stderr
        assert server.stats()["requests_total"] == 2
    with duckdb.connect(str(project / "e.duckdb"), read_only=True) as db:
        assert db.execute("SELECT rows_total, source FROM runs").fetchone() == (
            2, str((project / "new_drop.csv").resolve()))


def test_prompts_commands(project: Path) -> None:
    listed = enrich("prompts", "list", cwd=project)
    assert listed.returncode == 0 and "item_metadata" in listed.stdout
    rendered = enrich("prompts", "render", "item_metadata", "--row",
                      '{"title": "Heat", "year": 1995, "genres": "Action|Crime"}', cwd=project)
    assert rendered.returncode == 0
    assert "Item: Heat (1995)" in rendered.stdout and "Genres: Action, Crime" in rendered.stdout
    missing = enrich("prompts", "render", "item_metadata", "--row", "{}", cwd=project)
    assert missing.returncode == 2 and "'title' is undefined" in missing.stderr


def test_help_is_fast_and_light() -> None:
    code = ("import sys, time; t = time.perf_counter(); from enrich.cli import app; "
            "heavy = [m for m in ('duckdb', 'torch', 'llama_cpp', 'aiohttp', "
            "'sentence_transformers') if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_help_output_loads_no_rich_help_machinery() -> None:
    """`enrich --help` prints plain Click help: rich's help panels (rich.markdown, markdown_it)
    cost ~0.2 s of imports, more than the whole 0.3 s budget of bench target 4."""
    code = ("import sys\nfrom enrich.cli import main\nsys.argv = ['enrich', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', [m for m in ('rich.markdown', 'markdown_it', 'typer.rich_utils', "
            "'duckdb', 'aiohttp') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert "LOADED []" in result.stdout, result.stdout + result.stderr
    assert "Commands:" in result.stdout and "run" in result.stdout


def test_openai_run_imports_no_torch_or_sentence_transformers(project: Path) -> None:
    with FakeServer(FakeServerConfig()) as server:
        path = http_job(project, server.url)
        code = ("import sys; from enrich.cli import main; sys.argv = ['enrich', 'run', "
                f"{str(path)!r}, '--db', 'e.duckdb', '-q']\ntry:\n    main()\nexcept SystemExit:"
                "\n    pass\nheavy = [m for m in ('torch', 'sentence_transformers', 'llama_cpp', "
                "'transformers', 'vllm') if m in sys.modules]\nprint('HEAVY', heavy)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                cwd=project, timeout=120)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "finished" in result.stdout
