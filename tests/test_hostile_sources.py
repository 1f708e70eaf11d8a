"""Source values reach the prompt exactly as they are in the file (issue 17, part 3 and 5).

Properties, over generated cell texts: every CSV cell renders as the very text in the file
(no type inference: ``1e5``, ``007``, ``yes``, ``1.10``, dates, whitespace, quotes, unicode,
the empty field), and every row id comes back unchanged, as text. JSONL and Parquet keep their
types but strings are never turned into dates, nulls render as the empty string and nested
values as JSON text. A glob source's fingerprint changes exactly when its set of files (or one
of them) changes. A source column that a template variable would hide is an error.
"""

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich.errors import ConfigError, SourceError
from enrich.jobs import JobSpec
from enrich.prompts import PromptFile, shadowed_columns, template_variables
from enrich.sources import RowSource, files_version

NAMED_CELLS = ["1e5", "1E5", "yes", "no", "TRUE", "false", "1.10", "1.1", "007", "0", "-0",
               "2024-01-02", "2024-1-2", "12:00", "2024-01-02T03:04:05Z", "NaN", "inf",
               "NULL", "null", "None", "", " ", "  padded  ", "\t", "a,b", '"quoted"', "'",
               'say ""hi""', "line\nbreak", "cr\r\nlf", "ünï©ødé 😀", "١٢٣", "\\N", "#x",
               "1_000", "0x1F", "+1", ".5", "5.", "1,5", "€ 9,99", "{{ row }}", "{% raw %}"]
cell_text = st.one_of(st.sampled_from(NAMED_CELLS),
                      st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))


def _job(root: Path, source: dict[str, Any]) -> JobSpec:
    job = JobSpec.model_validate({"name": "t", "source": source, "prompt": "p"})
    return job.model_copy(update={"root": root, "path": root / "jobs" / "job.yaml"})


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _rows(source: RowSource) -> list[dict[str, Any]]:
    return [row for batch in source.batches(7) for row in batch]


PROMPT = PromptFile(name="p", schema="S", user="<{{ v }}>")


def _shown(row: dict[str, Any], template: PromptFile = PROMPT) -> str:
    return template.render(template_variables(row))[-1]["content"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(cell_text, min_size=1, max_size=8))
def test_every_csv_cell_renders_exactly_as_written(cells: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_csv(root / "items.csv", ["id", "v"], [[str(i), c] for i, c in enumerate(cells)])
        source = RowSource(_job(root, {"path": "items.csv", "id_column": "id"}))
        rows = _rows(source)
    assert [_shown(r) for r in rows] == [f"<{c}>" for c in cells]
    assert all(isinstance(r["v"], str) for r in rows)  # the empty field is "", not None


id_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=st.lists(st.one_of(st.sampled_from(["1.10", "1.1", "01", "1", "1e5", "100000.0",
                                               "TRUE", "true", " 1", "1 "]), id_text),
                    min_size=1, max_size=8, unique=True))
def test_ids_round_trip_as_text(ids: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_csv(root / "items.csv", ["id", "v"], [[i, "x"] for i in ids])
        source = RowSource(_job(root, {"path": "items.csv", "id_column": "id"}))
        source.check_ids()  # distinct texts are distinct ids ("1.10" and "1.1" included)
        rows = _rows(source)
    assert [str(r["id"]) for r in rows] == ids


def test_named_cases_that_type_inference_used_to_rewrite(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text(
        "id,a,b,c\n1.10,1e5,yes,\n1.1,007,2024-01-02,x\n", encoding="utf-8")
    source = RowSource(_job(tmp_path, {"path": "items.csv", "id_column": "id"}))
    source.check_ids()
    rows = _rows(source)
    assert [r["id"] for r in rows] == ["1.10", "1.1"]
    template = PromptFile(name="p", schema="S", user="{{ a }}|{{ b }}|{{ c }}|{{ c | length }}")
    assert [_shown(r, template) for r in rows] == ["1e5|yes||0", "007|2024-01-02|x|1"]


def test_declared_types_apply_and_a_bad_value_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("id,price,n\n1,1e5,3\n2,2.50,4\n", encoding="utf-8")
    job = _job(tmp_path, {"path": "items.csv", "id_column": "id",
                          "types": {"price": "DOUBLE", "n": "INTEGER"}})
    rows = _rows(RowSource(job))
    assert [(r["price"], r["n"]) for r in rows] == [(100000.0, 3), (2.5, 4)]
    assert rows[0]["id"] == "1"
    (tmp_path / "bad.csv").write_text("id,price\n1,cheap\n", encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        source = RowSource(_job(tmp_path, {"path": "bad.csv", "id_column": "id",
                                           "types": {"price": "DOUBLE"}}))
        source.check_ids()
    assert "declared in `source.types`" in caught.value.message
    assert 'Could not convert string "cheap"' in caught.value.message
    assert "\n" not in str(caught.value)
    with pytest.raises(SourceError, match="column `nope` is not in source"):
        RowSource(_job(tmp_path, {"path": "items.csv", "id_column": "id",
                                  "types": {"nope": "DOUBLE"}}))


@pytest.mark.parametrize("name", ["DROP TABLE x", "DOUBLE); SELECT 1 --", "1x"])
def test_a_type_name_is_a_name_not_sql(name: str) -> None:
    with pytest.raises(ValueError, match="is not a type name"):
        JobSpec.model_validate({"name": "t", "prompt": "p", "source": {
            "path": "a.csv", "id_column": "id", "types": {"price": name}}})


def test_jsonl_strings_are_never_dates_and_null_renders_empty(tmp_path: Path) -> None:
    lines = [{"id": 1, "d": "2024-1-2", "t": "2024-01-02T03:04:05Z", "u": "A0EEBC99-9C0B-4EF8-"
              "BB6D-6BB9BD380A11", "n": None, "f": 1.5, "b": True, "nest": {"a": [1, 2]}},
             {"id": 2, "d": "2024-01-02", "t": "2024-01-02T03:04:05Z", "u": "A0EEBC99-9C0B-"
              "4EF8-BB6D-6BB9BD380A11", "n": "", "f": 2.0, "b": False, "nest": {"a": []}}]
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n",
                                          encoding="utf-8")
    rows = _rows(RowSource(_job(tmp_path, {"path": "items.jsonl", "id_column": "id"})))
    template = PromptFile(name="p", schema="S",
                          user="{{ d }}|{{ t }}|{{ u }}|{{ n }}|{{ f }}|{{ b }}|{{ nest }}")
    assert [_shown(r, template) for r in rows] == [
        "2024-1-2|2024-01-02T03:04:05Z|A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11||1.5|True|"
        '{"a":[1,2]}',
        "2024-01-02|2024-01-02T03:04:05Z|A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11||2.0|False|"
        '{"a":[]}']
    assert rows[0]["id"] == 1 and rows[0]["nest"]["a"] == [1, 2]  # types kept for templates


def test_nested_parquet_columns_render_as_json_and_binary_is_named(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    with duckdb.connect() as con:
        con.execute(f"""COPY (SELECT 1 AS id, {{'a': [1, 2], 'b': 'x'}} AS s,
            map([1, 2], ['x', 'y']) AS m, ['a', 'b'] AS l, [1, 2]::INTEGER[2] AS arr,
            '\\xAA'::BLOB AS payload) TO '{path}' (FORMAT parquet)""")
    with pytest.raises(SourceError) as caught:
        RowSource(_job(tmp_path, {"path": "items.parquet", "id_column": "id"}))
    assert "column `payload`" in caught.value.message and "binary" in caught.value.message
    job = _job(tmp_path, {"path": "items.parquet", "id_column": "id",
                          "columns": ["s", "m", "l", "arr"]})
    [row] = _rows(RowSource(job))
    template = PromptFile(name="p", schema="S", user="{{ s }}|{{ m }}|{{ l }}|{{ arr }}")
    assert _shown(row, template) == '{"a":[1,2],"b":"x"}|{"1":"x","2":"y"}|["a","b"]|[1,2]'
    import orjson

    assert orjson.loads(orjson.dumps(row))["m"] == {"1": "x", "2": "y"}  # storable as input
    typed = _job(tmp_path, {"path": "items.parquet", "id_column": "id",
                            "types": {"payload": "VARCHAR"}})
    assert _rows(RowSource(typed))[0]["payload"] == "\\xAA"


def test_glob_fingerprint_changes_exactly_when_the_file_set_changes(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_text("id,v\n1,x\n", encoding="utf-8")
    (folder / "b.csv").write_text("id,v\n2,y\n", encoding="utf-8")
    first = files_version(tmp_path, "data/*.csv")
    assert first == files_version(tmp_path, "data/*.csv")  # nothing changed: same
    (folder / "notes.txt").write_text("not matched", encoding="utf-8")
    assert files_version(tmp_path, "data/*.csv") == first
    (folder / "c.csv").write_text("id,v\n3,z\n", encoding="utf-8")
    added = files_version(tmp_path, "data/*.csv")
    assert added != first
    (folder / "c.csv").unlink()
    assert files_version(tmp_path, "data/*.csv") == first  # the same set again
    (folder / "b.csv").rename(folder / "b2.csv")
    assert files_version(tmp_path, "data/*.csv") not in (first, added)
    stat = (folder / "a.csv").stat()
    os.utime(folder / "a.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    before = files_version(tmp_path, "data/*.csv")
    (folder / "a.csv").write_text("id,v\n1,changed\n", encoding="utf-8")
    assert files_version(tmp_path, "data/*.csv") != before
    absolute = files_version(tmp_path, str(folder / "*.csv"))
    assert absolute is not None and absolute.startswith("glob:")
    source = RowSource(_job(tmp_path, {"path": "data/*.csv", "id_column": "id"}))
    assert source.version() == files_version(tmp_path, "data/*.csv")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(st.from_regex(r"[a-z]{1,6}\.csv", fullmatch=True), min_size=1,
                      max_size=5, unique=True),
       extra=st.from_regex(r"[a-z]{1,6}\.csv", fullmatch=True))
def test_glob_fingerprint_is_a_function_of_the_file_set(names: list[str], extra: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in names:
            (root / name).write_text("id\n1\n", encoding="utf-8")
        before = files_version(root, "*.csv")
        if extra not in names:  # a new file joins the set
            (root / extra).write_text("id\n1\n", encoding="utf-8")
        after = files_version(root, "*.csv")
    assert (before == after) == (extra in names)


@pytest.mark.parametrize("column", ["row", "options"])
def test_a_column_the_renderer_hides_is_named(column: str) -> None:
    row = {"id": "1", column: "mine"}
    assert shadowed_columns(row, template_variables(row)) == [column]
    assert shadowed_columns({"id": "1"}, template_variables({"id": "1"})) == []


@settings(max_examples=100, deadline=None)
@given(row=st.dictionaries(st.one_of(st.sampled_from(["row", "options", "id", "title"]),
                                     st.text("abcrowptins_", min_size=1, max_size=8)),
                           st.one_of(st.none(), st.text(max_size=5), st.integers()),
                           max_size=6))
def test_exactly_the_names_the_renderer_sets_are_shadowed(row: dict[str, Any]) -> None:
    assert shadowed_columns(row, template_variables(row, {"k": 1})) == [
        name for name in row if name in ("row", "options")]


def test_a_task_variable_that_hides_a_column_is_named_unless_the_task_reads_it() -> None:
    row = {"id": "1", "query": "drill", "search_term": "saw"}
    variables = {**template_variables(row), "query": "saw"}  # a task put search_term in `query`
    assert shadowed_columns(row, variables, {"search_term"}) == ["query"]
    assert shadowed_columns(row, variables, {"query"}) == []  # derived from `query` itself
    same = {**template_variables(row), "query": "drill"}
    assert shadowed_columns(row, same) == []


def test_the_plan_refuses_a_shadowed_column_before_the_first_request(tmp_path: Path) -> None:
    from enrich.plan import RunPlan

    for folder in ("prompts", "schemas"):
        (tmp_path / folder).mkdir()
    (tmp_path / "prompts" / "p.yaml").write_text(
        "name: p\nschema: S\nuser: '{{ row }}'\n", encoding="utf-8")
    (tmp_path / "schemas" / "S.json").write_text(
        '{"type": "object", "properties": {"a": {"type": "string"}}}', encoding="utf-8")
    (tmp_path / "items.csv").write_text("id,row\n1,first\n", encoding="utf-8")
    plan = RunPlan.build(_job(tmp_path, {"path": "items.csv", "id_column": "id"}))
    row = _rows(plan.source)[0]
    with pytest.raises(ConfigError) as caught:
        plan.render("1", row, strict=True)
    assert "source column `row`" in caught.value.message
    assert "rename the column" in caught.value.hint


def test_a_glob_source_whose_file_set_changed_is_a_new_run_on_the_cache(tmp_path: Path) -> None:
    from reliability_helpers import job_yaml, make_project, run_cli, write_job

    from enrich.testing.fake_server import FakeServer, FakeServerConfig

    project = make_project(tmp_path / "project", rows=0)
    (project / "data" / "items.csv").unlink()
    drops = project / "data" / "drops"
    drops.mkdir()
    (drops / "a.csv").write_text("item_id,title\n1,Drill\n", encoding="utf-8")
    (drops / "b.csv").write_text("item_id,title\n2,Saw\n", encoding="utf-8")
    db = project / "e.duckdb"

    def runs() -> list[tuple[str, str, int]]:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("SELECT run_id, status, rows_total FROM runs ORDER BY started_at"
                               ).fetchall()

    with FakeServer(FakeServerConfig()) as server:
        job = write_job(project, job_yaml(server.url, source="data/drops/*.csv"))
        assert run_cli(["run", str(job), "--db", str(db), "-q"], project).code == 0
        with duckdb.connect(str(db)) as con:  # as if it had been stopped half-way
            con.execute("UPDATE runs SET status = 'interrupted'")
        (drops / "c.csv").write_text("item_id,title\n3,Hammer\n", encoding="utf-8")
        result = run_cli(["run", str(job), "--db", str(db), "-q"], project)
        assert result.code == 0, result.stderr
    [first, second] = runs()
    assert first[0] != second[0] and second[2] == 3  # not a resume of the old file set
    with duckdb.connect(str(db), read_only=True) as con:
        cached = con.execute("SELECT count(*) FROM outputs WHERE run_id = ? AND cached",
                             [second[0]]).fetchone()[0]
    assert cached == 2  # the rows of the unchanged files came from the cache
