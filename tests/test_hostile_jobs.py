"""Job, prompt and suite files cannot exhaust the machine; bad options blame the option.

Properties: every YAML document with an anchor or alias is refused (one line naming the file
and line) before anything is expanded, whatever the nesting; every document without one parses
exactly as PyYAML's safe loader parses it. Named cases: the "billion laughs" document, a merge
key, a deep nesting, an oversized file, in a job, a prompt and a suite file.
"""

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_helpers import job_yaml, make_project, run_cli, write_job

from enrich.errors import ConfigError
from enrich.evaluate.suites import load_suite
from enrich.jobs import load_job
from enrich.prompts import PromptLibrary
from enrich.yaml_files import MAX_YAML_BYTES, load_yaml_text

LAUGHS = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
                    *(f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9)
                      + "]" for i in range(8))])

scalars = st.one_of(st.integers(), st.booleans(), st.none(),
                    st.text(st.characters(codec="utf-8", blacklist_categories=("Cs", "Cc")),
                            max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text("abcxyz", min_size=1, max_size=4), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(value=values)
def test_documents_without_aliases_parse_like_safe_load(value: object) -> None:
    text = yaml.safe_dump(value, allow_unicode=True)
    assert load_yaml_text(text, "x.yaml") == yaml.safe_load(text)


@settings(max_examples=150, deadline=None)
@given(value=values, depth=st.integers(0, 3), alias=st.booleans())
def test_every_anchor_or_alias_is_refused(value: object, depth: int, alias: bool) -> None:
    shared = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    if shared.endswith("..."):
        shared = shared[:-3].strip()
    body = f"&x {shared}" if not alias else "*x"
    inner = body
    for _ in range(depth):
        inner = f"[{inner}]"
    text = f"first: &x {shared}\nsecond: {inner}\n" if alias else f"first: {inner}\n"
    with pytest.raises(ConfigError) as caught:
        load_yaml_text(text, "x.yaml")
    assert "YAML anchor or alias" in caught.value.message
    assert caught.value.message.startswith("x.yaml: line ")


def test_billion_laughs_is_refused_at_once_in_every_kind_of_file(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    job = write_job(project, job_yaml("http://127.0.0.1:9/v1") + LAUGHS + "\n")
    started = time.perf_counter()
    result = run_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
    assert time.perf_counter() - started < 5
    assert result.code == 2 and len(result.error_lines) == 1, result.stderr
    assert "line 6 uses a YAML anchor or alias (&a / *a)" in result.stderr
    assert "write the repeated values out in full" in result.stderr
    assert not (project / "e.duckdb").exists()
    prompt = project / "prompts" / "label_item.yaml"
    prompt.write_text(prompt.read_text(encoding="utf-8") + LAUGHS + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="YAML anchor or alias"):
        PromptLibrary(project / "prompts").get("label_item")
    suite = project / "suite.yaml"
    suite.write_text("name: s\nkind: labels\n" + LAUGHS + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="suite.yaml: line 3 uses a YAML anchor"):
        load_suite(suite, project)


def test_merge_keys_deep_nesting_and_huge_files_are_refused(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("base: &base {concurrency: 2}\njob:\n  <<: *base\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1 uses a YAML anchor or alias"):
        load_job(job)
    job.write_text("name: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nests too deeply"):
        load_job(job)
    job.write_text("description: '" + "x" * (MAX_YAML_BYTES + 1) + "'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="over the 4,194,304 a YAML job file may have"):
        load_job(job)


def test_a_broken_override_target_is_one_line(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("name: j\nprompt: p\nsource: data.csv\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="`source` must be a mapping"):
        load_job(job, {"source.path": "/x.csv"}, {"source.path": "--source"})


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--concurrency", "5000", "Invalid value for '--concurrency': Input should be less than or "
                              "equal to 4096"),
    ("--base-url", "ftp://gpu-box/v1", "Invalid value for '--base-url': must start with http://"),
    ("--server", "tgi", "Invalid value for '--server': Input should be 'vllm'"),
    ("--backend", "gpt", "Invalid value for '--backend'"),
])
def test_a_bad_option_blames_the_option_not_the_job_file(tmp_path: Path, option: str,
                                                         value: str, message: str) -> None:
    project = make_project(tmp_path / "project")
    job = write_job(project, job_yaml("http://127.0.0.1:9/v1"))
    result = run_cli(["run", str(job), "--db", "e.duckdb", "-q", option, value], project)
    assert result.code == 2 and len(result.error_lines) == 1, result.stderr
    assert message in result.stderr
    assert "job.yaml" not in result.stderr and "see `enrich run --help`" in result.stderr


def test_the_same_mistake_in_the_job_file_still_blames_the_job_file(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    job = write_job(project, job_yaml("http://127.0.0.1:9/v1", concurrency=5000))
    result = run_cli(["run", str(job), "--db", "e.duckdb", "-q"], project)
    assert result.code == 2, result.stderr
    assert "job.yaml: `concurrency`: Input should be less than or equal to 4096" in result.stderr
    assert "fix the job file" in result.stderr
