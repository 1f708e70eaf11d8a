"""The bad-input catalogue: every mistake a user can make, and the one line they must see.

Each case builds a small project (``reliability_helpers.make_project``: a 5-row CSV, the
``label_item`` prompt and its ``ItemLabel`` schema), breaks one thing, and says which message
``enrich`` must print (job file, command line and source here; prompt, schema, backend,
row-level problems and the store in ``reliability_catalogue_more.py``).
``tests/test_reliability_inputs.py`` runs every case; ``docs/errors.md``
lists every case id with its message (checked by a test, regenerated with
``python tests/test_reliability_inputs.py``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reliability_helpers import job_yaml, write_job, write_rows

PLANTED_KEY = "sk-enrich-PLANTED-0123456789abcdef"


@dataclass
class Ctx:
    """What a case builder gets: the project, the test server's URL and a clean-up list."""

    project: Path
    url: str
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def job(self, text: str | None = None, **kwargs: Any) -> list[str]:
        """Write a job (default: the working one, changed by ``kwargs``); ``enrich run`` args."""
        path = write_job(self.project, text if text is not None else job_yaml(self.url, **kwargs))
        return ["run", str(path), "--db", "e.duckdb", "-q"]

    def file(self, relative: str, content: str | bytes) -> Path:
        path = self.project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path


@dataclass
class Invocation:
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: bool = False  # run as a child process (resource limits, signals)
    limit_file_size: int | None = None


Build = Callable[[Ctx], list[str] | Invocation]


@dataclass(frozen=True)
class Case:
    """One mistake: how to make it, and what the user must see.

    Attributes:
        id: stable name, also the anchor in docs/errors.md.
        summary: the mistake, in a few words.
        message: a fragment of the one-line error (or of the recorded failure's message).
        build: makes the mistake in a fresh project; returns the ``enrich`` arguments.
        code: expected exit code.
        row_kind: for row-level problems, the failure kind recorded (the run itself succeeds).
        store: "empty" (nothing written), "sound" (partial progress, consistent) or "any".
        server: which test server the case talks to.
    """

    id: str
    summary: str
    message: str
    build: Build
    code: int = 2
    row_kind: str | None = None
    store: Literal["empty", "sound", "any"] = "empty"
    server: str = "plain"


CASES: list[Case] = []


def case(id: str, summary: str, message: str, **kwargs: object) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        CASES.append(Case(id, summary, message, build, **kwargs))  # type: ignore[arg-type]
        return build
    return register


def base_job(ctx: Ctx) -> str:
    return job_yaml(ctx.url)


# -- the job file ----------------------------------------------------------------------------------

@case("job-not-found", "the job file does not exist", "job file not found")
def _job_not_found(ctx: Ctx) -> list[str]:
    return ["run", "jobs/nope.yaml", "--db", "e.duckdb"]


@case("job-bad-yaml", "the job file is not valid YAML",
      "line 3 is not valid YAML (expected ',' or ']'")
def _job_bad_yaml(ctx: Ctx) -> list[str]:
    return ctx.job("name: x\nsource: [unclosed\n")


@case("job-not-mapping", "the job file is a list, not a mapping", "must be a YAML mapping")
def _job_not_mapping(ctx: Ctx) -> list[str]:
    return ctx.job("- name: x\n")


@case("job-not-utf8", "the job file is not UTF-8", "is not UTF-8 text")
def _job_not_utf8(ctx: Ctx) -> list[str]:
    path = ctx.file("jobs/latin.yaml", "name: café\n".encode("latin-1"))
    return ["run", str(path), "--db", "e.duckdb"]


@case("job-unknown-key", "a misspelt key in the job file", "`colour`: unknown key")
def _job_unknown_key(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx) + "colour: blue\n")


@case("job-unknown-nested-key", "a misspelt key inside `source`",
      "`source.id_col`: unknown key")
def _job_unknown_nested_key(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("id_column: item_id", "id_column: item_id, id_col: x"))


@case("job-missing-key", "a required key is missing", "`prompt`: Field required")
def _job_missing_key(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("prompt: label_item\n", ""))


@case("job-wrong-type", "a value of the wrong type",
      "`concurrency`: Input should be a valid integer")
def _job_wrong_type(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("concurrency: 4", "concurrency: lots"))


@case("job-bad-name", "a job name with spaces or slashes", "`name`: String should match")
def _job_bad_name(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("name: items", "name: 'my items/1'"))


@case("concurrency-zero", "concurrency 0 in the job file",
      "`concurrency`: Input should be greater than or equal to 1")
def _concurrency_zero(ctx: Ctx) -> list[str]:
    return ctx.job(concurrency=0)


@case("negative-limit", "a negative limit in the job file",
      "`limit`: Input should be greater than or equal to 0")
def _negative_limit(ctx: Ctx) -> list[str]:
    return ctx.job(extra="limit: -5\n")


@case("cli-concurrency-zero", "--concurrency 0 on the command line",
      "Invalid value for '--concurrency'")
def _cli_concurrency_zero(ctx: Ctx) -> list[str]:
    return [*ctx.job(), "--concurrency", "0"]


@case("cli-negative-limit", "--limit -1 on the command line",
      "Invalid value for '--limit'")
def _cli_negative_limit(ctx: Ctx) -> list[str]:
    return [*ctx.job(), "--limit", "-1"]


@case("cli-unknown-option", "an option `enrich run` does not have", "No such option: --colour")
def _cli_unknown_option(ctx: Ctx) -> list[str]:
    return [*ctx.job(), "--colour", "blue"]


@case("cli-bad-override", "a --backend that does not exist",
      "Invalid value for '--backend': Input should be 'llamacpp', 'openai' or 'vllm'")
def _cli_bad_override(ctx: Ctx) -> list[str]:
    return [*ctx.job(), "--backend", "gpt"]


@case("bad-sampling-param", "temperature out of range",
      "`params.temperature`: Input should be less than or equal to 2")
def _bad_sampling_param(ctx: Ctx) -> list[str]:
    return ctx.job(extra="params: {temperature: 7}\n")


@case("env-bad-setting", "an ENRICH_* variable with a bad value",
      "environment variable ENRICH_N_THREADS")
def _env_bad_setting(ctx: Ctx) -> Invocation:
    return Invocation(ctx.job(), env={"ENRICH_N_THREADS": "many"})


# -- the source ------------------------------------------------------------------------------------

@case("source-missing", "the source file does not exist", "source file not found")
def _source_missing(ctx: Ctx) -> list[str]:
    return ctx.job(source="data/nope.csv")


@case("source-path-and-query", "both `path` and `query` in `source`",
      "set exactly one of `path` (a file) or `query`")
def _source_path_and_query(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("id_column: item_id", "id_column: item_id, query: 'x'"))


@case("source-outside-project", "a source path that climbs out of the project",
      "points outside the project")
def _source_outside(ctx: Ctx) -> list[str]:
    outside = ctx.project.parent / "outside.csv"
    outside.write_text("item_id,title\n1,x\n", encoding="utf-8")
    return ctx.job(source="../outside.csv")


@case("job-outside-project", "a job file in a folder with no prompts/ above it",
      "no `prompts/` folder")
def _job_outside_project(ctx: Ctx) -> list[str]:
    folder = ctx.project.parent / "elsewhere"
    folder.mkdir()
    path = folder / "job.yaml"
    path.write_text(job_yaml(ctx.url, source=str(ctx.project / "data" / "items.csv")),
                    encoding="utf-8")
    return ["run", str(path), "--db", str(ctx.project / "e.duckdb")]


@case("source-empty-file", "a source file of 0 bytes", "is empty")
def _source_empty_file(ctx: Ctx) -> list[str]:
    ctx.file("data/items.csv", "")
    return ctx.job()


@case("source-no-rows", "a source with a header and no rows", "has no rows")
def _source_no_rows(ctx: Ctx) -> list[str]:
    ctx.file("data/items.csv", "item_id,title\n")
    return ctx.job()


@case("source-no-id-column", "the id column is not in the source",
      "column `sku` is not in source")
def _source_no_id_column(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("id_column: item_id", "id_column: sku"))


@case("source-no-listed-column", "`columns` names a column the source lacks",
      "column `price` is not in source")
def _source_no_listed_column(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("id_column: item_id",
                                         "id_column: item_id, columns: [price]"))


@case("source-duplicate-ids", "two rows with the same id", "has duplicate or empty values (1)")
def _source_duplicate_ids(ctx: Ctx) -> list[str]:
    ctx.file("data/items.csv", "item_id,title\n1,a\n1,b\n2,c\n")
    return ctx.job()


@case("source-empty-id", "a row without an id", "has duplicate or empty values (None)")
def _source_empty_id(ctx: Ctx) -> list[str]:
    ctx.file("data/items.csv", "item_id,title\n1,a\n,b\n")
    return ctx.job()


@case("source-not-utf8", "a Latin-1 CSV", "is not UTF-8")
def _source_not_utf8(ctx: Ctx) -> list[str]:
    ctx.file("data/items.csv", "item_id,title\n1,caf\xe9\n".encode("latin-1"))
    return ctx.job()


@case("source-ragged-csv", "a CSV row with more fields than the header",
      "line 3 has 4 fields but the header has 2")
def _source_ragged(ctx: Ctx) -> list[str]:
    ctx.file("data/items.csv", "item_id,title\n1,a\n2,b,extra,more\n3,c\n")
    return ctx.job()


@case("source-bad-jsonl", "a JSONL file with a broken line", "cannot read source")
def _source_bad_jsonl(ctx: Ctx) -> list[str]:
    ctx.file("data/items.jsonl", '{"item_id": 1, "title": "a"}\n{"item_id": 2, "title": \n')
    return ctx.job(source="data/items.jsonl")


@case("source-bad-parquet", "a .parquet file that is not Parquet", "cannot read source")
def _source_bad_parquet(ctx: Ctx) -> list[str]:
    ctx.file("data/items.parquet", "item_id,title\n1,a\n")
    return ctx.job(source="data/items.parquet")


@case("source-unknown-format", "a source file with an unknown extension",
      "cannot tell the format")
def _source_unknown_format(ctx: Ctx) -> list[str]:
    ctx.file("data/items.xml", "<items/>")
    return ctx.job(source="data/items.xml")


@case("source-huge-field", "a 10 MB field in one row", "is 10,0", code=0,
      row_kind="prompt_too_long", store="sound")
def _source_huge_field(ctx: Ctx) -> list[str]:
    write_rows(ctx.project, 3)
    with (ctx.project / "data" / "items.csv").open("a", encoding="utf-8") as f:
        f.write("99," + "x" * 10_000_000 + "\n")
    return ctx.job()


@case("sql-writes", "a SQL source that deletes rows", "must be one read-only SELECT")
def _sql_writes(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace(
        "path: data/items.csv", "duckdb: e.duckdb, query: 'DELETE FROM outputs'"))


@case("sql-two-statements", "a SQL source with a second statement",
      "must be one read-only SELECT")
def _sql_two_statements(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace(
        "path: data/items.csv",
        "duckdb: e.duckdb, query: 'SELECT 1 AS item_id; DROP TABLE runs'"))


@case("sql-invalid", "a SQL source with a syntax error", "is not valid SQL")
def _sql_invalid(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace(
        "path: data/items.csv", "duckdb: e.duckdb, query: 'SELEKT * FROM items'"))


@case("sql-missing-db", "a SQL source over a DuckDB file that does not exist",
      "source file not found")
def _sql_missing_db(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace(
        "path: data/items.csv", "duckdb: data/nope.duckdb, query: 'SELECT 1 AS item_id'"))


# The cases of part 2 register themselves when their module is imported.
import reliability_catalogue_more  # noqa: E402,F401
