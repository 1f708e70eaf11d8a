"""``enrich init`` and the built-in library a project sees next to its own files."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich._builtin import STARTER_FILES, builtin_folder, builtin_root, write_starter
from enrich.backends.model_files import KNOWN_MODELS
from enrich.errors import ConfigError
from enrich.jobs import load_job
from enrich.prompts import PromptLibrary
from enrich.schema_registry import SchemaRegistry
from enrich.testing.fake_server import FakeServer, FakeServerConfig

STARTER_JOB = "jobs/item_metadata.yaml"


def enrich(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENRICH_CACHE_DIR": str(cwd / ".cache"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "enrich.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_init_writes_a_project_whose_library_files_are_the_built_in_ones(tmp_path: Path) -> None:
    done = enrich("init", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    demo = tmp_path / "demo"
    assert sorted(_digests(demo)) == sorted(STARTER_FILES)
    root = builtin_root()
    assert root is not None
    for target, (folder, name) in STARTER_FILES.items():
        if folder != "starter":
            assert (demo / target).read_bytes() == (root / folder / name).read_bytes()
    assert "cd demo && enrich run jobs/item_metadata.yaml" in done.stdout
    job = load_job(demo / STARTER_JOB)
    assert job.root == demo.resolve() and job.backend.kind == "llamacpp"
    assert job.backend.model in KNOWN_MODELS  # the embedded model, from a PyPI package
    prompt = PromptLibrary(demo / "prompts").get(job.prompt)
    schema = SchemaRegistry(demo / "schemas").get(prompt.schema_name)
    assert SchemaRegistry(demo / "schemas").source(schema.name) == "project"
    rows = (demo / "data" / "items.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "item_id,title,description" and len(rows) == 9


@settings(max_examples=25, deadline=None)
@given(st.sets(st.sampled_from(sorted(STARTER_FILES)), min_size=1))
def test_init_never_overwrites_without_force(existing: set[str]) -> None:
    """Whichever starter files already exist, init refuses and changes nothing; --force
    writes every starter file."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in existing:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text("mine\n", encoding="utf-8")
        before = _digests(folder)
        with pytest.raises(ConfigError) as refused:
            write_starter(folder)
        assert refused.value.exit_code == 2 and "--force" in refused.value.hint
        assert _digests(folder) == before
        written = write_starter(folder, force=True)
        assert [str(p.relative_to(folder)) for p in written] == list(STARTER_FILES)
        assert all((folder / name).read_text(encoding="utf-8") != "mine\n"
                   for name in STARTER_FILES)


def test_init_refusal_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("my notes\n", encoding="utf-8")
    done = enrich("init", ".", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "README.md already exists" in done.stderr and "--force" in done.stderr
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "my notes\n"


def test_starter_job_runs_over_http_and_lists_mark_their_source(tmp_path: Path) -> None:
    assert enrich("init", "demo", cwd=tmp_path).returncode == 0
    demo = tmp_path / "demo"
    with FakeServer(FakeServerConfig(models=["test-model"])) as server:
        ran = enrich("run", STARTER_JOB, "--backend", "openai", "--base-url", server.url,
                     "--model", "test-model", "-q", cwd=demo)
    assert ran.returncode == 0, ran.stderr
    status = json.loads(enrich("status", "--json", cwd=demo).stdout)
    assert status[0]["ok"] == 8 and status[0]["failed"] == 0
    prompts = enrich("prompts", "list", cwd=demo).stdout
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in prompts.splitlines() if line.startswith("│")}
    assert rows["item_metadata"] == "project"
    assert rows["bad_match"] == "built-in" and rows["query_understanding"] == "built-in"
    schemas = enrich("schemas", "list", cwd=demo).stdout
    assert any("ItemMetadata" in line and "project" in line for line in schemas.splitlines())
    assert any("MatchLabel" in line and "built-in" in line for line in schemas.splitlines())
    suites = enrich("eval", "list", cwd=demo)
    assert suites.returncode == 0 and "cranfield_retrieval" in suites.stdout
    assert "built-in" in suites.stdout and "no project suites" in suites.stderr


def test_an_empty_folder_lists_the_built_in_library_with_a_hint(tmp_path: Path) -> None:
    listed = enrich("prompts", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "item_metadata" in listed.stdout
    assert "built-in" in listed.stdout and "enrich init" in listed.stderr
    schemas = enrich("schemas", "list", cwd=tmp_path)
    assert schemas.returncode == 0 and "ItemMetadata" in schemas.stdout
    assert "enrich init" in schemas.stderr


def test_a_job_may_name_a_built_in_prompt_it_does_not_copy(tmp_path: Path) -> None:
    """A project without prompts/ or schemas/ runs the built-in item_metadata prompt."""
    (tmp_path / "items.csv").write_text("id,title\n1,Heat\n2,Casino\n", encoding="utf-8")
    with FakeServer(FakeServerConfig(models=["test-model"])) as server:
        (tmp_path / "job.yaml").write_text(
            "name: borrowed\nsource: {path: items.csv, id_column: id}\nprompt: item_metadata\n"
            f"backend: {{kind: openai, model: test-model, base_url: '{server.url}'}}\n",
            encoding="utf-8")
        ran = enrich("run", "job.yaml", "-q", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(enrich("status", "--json", cwd=tmp_path).stdout)[0]["ok"] == 2


def test_project_files_override_built_in_ones(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "item_metadata.yaml").write_text(
        "name: item_metadata\nschema: ItemMetadata\nuser: 'Item: {{ title }}'\n",
        encoding="utf-8")
    library = PromptLibrary(tmp_path / "prompts")
    mine = library.get("item_metadata")
    assert mine.user == "Item: {{ title }}"
    sources = dict((p.stem, s) for p, s in library.sources())
    assert sources["item_metadata"] == "project" and sources["bad_match"] == "built-in"
    assert [p.stem for p, _ in library.sources()].count("item_metadata") == 1
    assert PromptLibrary(tmp_path / "prompts", builtin=False).sources() == [
        (tmp_path / "prompts" / "item_metadata.yaml", "project")]
    with pytest.raises(ConfigError, match=r"unknown prompt `nope`.*available prompts: "
                                          r"item_metadata; built-in: bad_match"):
        library.get("nope")


def test_inside_the_checkout_the_library_is_not_listed_twice() -> None:
    root = builtin_root()
    assert root is not None
    assert builtin_folder("prompts", root / "prompts") is None
    library = PromptLibrary(root / "prompts")
    assert library.builtin_paths() == [] and library.sources()
    assert all(source == "project" for _, source in library.sources())


@pytest.mark.slow
def test_starter_job_runs_on_the_embedded_model(tmp_path: Path) -> None:
    """The starter job as written: embedded llama.cpp with SmolLM2 (2 rows)."""
    pytest.importorskip("llama_cpp", reason="pip install 'enrich[llamacpp]'")
    assert enrich("init", "demo", cwd=tmp_path).returncode == 0
    demo = tmp_path / "demo"
    ran = enrich("run", STARTER_JOB, "--limit", "2", "-q", cwd=demo, timeout=600)
    assert ran.returncode == 0, ran.stderr
    run = json.loads(enrich("status", "--json", cwd=demo).stdout)[0]
    assert run["ok"] + run["failed"] == 2 and run["ok"] >= 1, run
