"""The bad-input catalogue, part 2: prompt, schema, backend, row-level problems and the store.

Cases register themselves in ``reliability_catalogue.CASES`` (see that module).
"""

import subprocess
import sys

import yaml
from reliability_catalogue import Ctx, Invocation, base_job, case
from reliability_helpers import write_rows

# -- prompt and schema -----------------------------------------------------------------------------

def _prompt(ctx: Ctx, user: str) -> list[str]:
    text = yaml.safe_dump({"name": "label_item", "schema": "ItemLabel", "user": user})
    ctx.file("prompts/label_item.yaml", text)
    return ctx.job()


@case("template-syntax-error", "a Jinja2 syntax error in the prompt",
      "template syntax error at line 1")
def _template_syntax(ctx: Ctx) -> list[str]:
    return _prompt(ctx, "Item {{ title ")


@case("template-undefined-variable", "the template uses a column the source lacks",
      "'titel' is undefined")
def _template_undefined(ctx: Ctx) -> list[str]:
    return _prompt(ctx, "Item {{ titel }}")


@case("template-reads-file", "the template tries to include a file",
      "templates cannot include, import or extend")
def _template_reads_file(ctx: Ctx) -> list[str]:
    return _prompt(ctx, "{% include '/etc/passwd' %}")


@case("template-imports", "the template tries to import a module",
      "templates cannot include, import or extend")
def _template_imports(ctx: Ctx) -> list[str]:
    return _prompt(ctx, "{% import 'os' as os %}{{ os.system('id') }}")


@case("template-dunder-class", "the template reaches for `__class__`",
      "blocked by the template sandbox")
def _template_dunder(ctx: Ctx) -> list[str]:
    return _prompt(ctx, "{{ title.__class__.__mro__[1].__subclasses__() }}")


@case("template-globals", "the template reaches for `__globals__`",
      "blocked by the template sandbox")
def _template_globals(ctx: Ctx) -> list[str]:
    return _prompt(ctx, "{{ lipsum.__globals__['os'].popen('id').read() }}")


@case("prompt-unknown", "the job names a prompt that does not exist", "unknown prompt `nope`")
def _prompt_unknown(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("prompt: label_item", "prompt: nope"))


@case("prompt-file-invalid", "a misspelt key in the prompt file", "`colour`: unknown key")
def _prompt_file_invalid(ctx: Ctx) -> list[str]:
    ctx.file("prompts/label_item.yaml",
             "name: label_item\nschema: ItemLabel\nuser: hi\ncolour: red\n")
    return ctx.job()


@case("schema-unknown", "the job names a schema that does not exist",
      "unknown output schema `Nope`")
def _schema_unknown(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx) + "schema: Nope\n")


@case("schema-not-json-schema", "a schema file that is not valid JSON Schema",
      "not a valid JSON Schema")
def _schema_not_json_schema(ctx: Ctx) -> list[str]:
    ctx.file("schemas/Broken.json", '{"type": "objekt"}')
    return ctx.job(base_job(ctx) + "schema: Broken\n")


@case("schema-not-json", "a .json schema file that is not JSON", "is not valid JSON")
def _schema_not_json(ctx: Ctx) -> list[str]:
    ctx.file("schemas/Broken.json", '{"type": "object",')
    return ctx.job(base_job(ctx) + "schema: Broken\n")


@case("schema-python-error", "a schema .py file that raises on import",
      "NameError: name 'Feild' is not defined")
def _schema_python_error(ctx: Ctx) -> list[str]:
    ctx.file("schemas/other.py", "from pydantic import BaseModel\n\n"
             "class Other(BaseModel):\n    x: int = Feild()\n")
    return ctx.job()


@case("task-unknown", "the job names a task kind that does not exist", "unknown task `nope`")
def _task_unknown(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx) + "task: nope\n")


# -- the backend -----------------------------------------------------------------------------------

@case("backend-unknown", "an unknown backend kind",
      "`backend.kind`: Input should be 'llamacpp', 'openai' or 'vllm'")
def _backend_unknown(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("kind: openai", "kind: gpt"))


@case("backend-no-url", "the openai backend without a server URL", "needs a server URL")
def _backend_no_url(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace(f", base_url: '{ctx.url}'", ""))


@case("backend-url-no-scheme", "a server URL without http://",
      "`backend.base_url`: must start with http:// or https://")
def _backend_url_no_scheme(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("http://", ""))


@case("backend-url-credentials", "a server URL with a password in it",
      "`backend.base_url`: must not hold credentials")
def _backend_url_credentials(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("http://", "http://user:sk-secret@"))


@case("server-down", "nothing listens at the server URL", "cannot reach the LLM server")
def _server_down(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace(ctx.url, "http://127.0.0.1:9/v1"))


@case("model-not-served", "a model name the server does not serve (404)",
      "model `gpt-5` is not served")
def _model_not_served(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("model: test-model", "model: gpt-5"))


@case("api-key-wrong", "a wrong API key (401)", "rejected the API key (HTTP 401)", server="keyed")
def _api_key_wrong(ctx: Ctx) -> Invocation:
    args = ctx.job(base_job(ctx).replace("kind: openai", "kind: openai, api_key_env: MY_KEY"))
    return Invocation(args, env={"MY_KEY": "sk-wrong-key"})


@case("api-key-env-unset", "`api_key_env` names a variable that is not set",
      "environment variable ENRICH_TEST_UNSET_KEY is not set")
def _api_key_env_unset(ctx: Ctx) -> list[str]:
    return ctx.job(base_job(ctx).replace("kind: openai", "kind: openai, api_key_env: "
                                                      "ENRICH_TEST_UNSET_KEY"))


@case("server-rejects-every-request", "the server answers 400 to every request",
      "the server rejected the first", server="plain")
def _server_rejects(ctx: Ctx) -> list[str]:
    ctx.file("schemas/Impossible.json", '{"type": "object", "properties": {"n": {"type": '
             '"integer", "minimum": 5, "maximum": 1}}, "required": ["n"]}')
    write_rows(ctx.project, 40)
    return ctx.job(base_job(ctx) + "schema: Impossible\n")


# -- row-level problems: recorded as failures, the run goes on ------------------------------------

@case("output-fails-schema", "the model answers valid JSON that breaks the schema",
      "Field required", code=0, row_kind="schema_violation", store="sound",
      server="wrong_shape")
def _output_fails_schema(ctx: Ctx) -> list[str]:
    return ctx.job()


@case("output-not-json", "the model answers text that is not JSON", "not valid JSON", code=0,
      row_kind="invalid_json", store="sound", server="invalid_json")
def _output_not_json(ctx: Ctx) -> list[str]:
    return ctx.job()


@case("output-empty", "the model answers nothing", "not valid JSON", code=0,
      row_kind="empty_output", store="sound", server="empty")
def _output_empty(ctx: Ctx) -> list[str]:
    return ctx.job()


@case("template-error-one-row", "a template that breaks on one row's value",
      "prompt `label_item`", code=0, row_kind="template_error", store="sound")
def _template_error_one_row(ctx: Ctx) -> list[str]:
    ctx.file("data/items.csv", "item_id,title,price\n1,a,2\n2,b,0\n3,c,4\n")
    ctx.file("prompts/label_item.yaml",
             "name: label_item\nschema: ItemLabel\nuser: '{{ title }}: {{ 100 / price | int }}'\n")
    return ctx.job()


# -- the store -------------------------------------------------------------------------------------

@case("store-locked", "another process has the store open for writing",
      "is in use by another process", store="any")
def _store_locked(ctx: Ctx) -> list[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect('e.duckdb'); "
         "print('ready', flush=True); time.sleep(120)"],
        cwd=ctx.project, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"

    def stop_holder() -> None:
        holder.kill()
        holder.wait()

    ctx.cleanups.append(stop_holder)
    return ctx.job()


@case("store-not-duckdb", "--db points at a file that is not a DuckDB store",
      "is not a DuckDB file")
def _store_not_duckdb(ctx: Ctx) -> list[str]:
    return [*ctx.job()[:-3], "--db", "data/items.csv"]


@case("store-read-only-dir", "the store's folder is read-only", "cannot write the store",
      store="any")
def _store_read_only(ctx: Ctx) -> list[str]:
    from reliability_helpers import read_only_folder

    folder = read_only_folder(ctx.project / "ro", ctx.cleanups)
    return [*ctx.job()[:-3], "--db", str(folder / "e.duckdb")]


@case("store-disk-full", "the disk fills up during the run", "no space left to write the store",
      store="sound")
def _store_disk_full(ctx: Ctx) -> Invocation:
    ctx.file("data/items.csv", "item_id,title\n" + "".join(
        f"{i},{'long title ' * 150}{i}\n" for i in range(400)))
    return Invocation(ctx.job(), process=True, limit_file_size=1_000_000)


@case("status-no-store", "`enrich status` before any run", "no store at")
def _status_no_store(ctx: Ctx) -> list[str]:
    return ["status", "--db", "e.duckdb"]


@case("retry-unknown-run", "`enrich retry` with a run id that does not exist",
      "no run `run-nope`", store="any")
def _retry_unknown_run(ctx: Ctx) -> list[str]:
    result = ctx.job()
    _run_ok(ctx, result)
    return ["retry", "run-nope", "--db", "e.duckdb"]


@case("export-unknown-format", "`enrich export --format xlsx`", "unknown export format `xlsx`",
      store="any")
def _export_unknown_format(ctx: Ctx) -> list[str]:
    _run_ok(ctx, ctx.job())
    return ["export", "items", "--format", "xlsx", "--out", "x.xlsx", "--db", "e.duckdb"]


@case("export-unknown-run", "`enrich export` of a job that never ran",
      "no run or job called `nope`", store="any")
def _export_unknown_run(ctx: Ctx) -> list[str]:
    _run_ok(ctx, ctx.job())
    return ["export", "nope", "--out", "x.parquet", "--db", "e.duckdb"]


def _run_ok(ctx: Ctx, args: list[str]) -> None:
    from reliability_helpers import run_cli

    result = run_cli(args, ctx.project)
    assert result.code == 0, result.stderr


@case("status-empty-store", "`enrich status` on a DuckDB file with no enrich tables",
      "no runs in e.duckdb yet", store="any")
def _status_empty_store(ctx: Ctx) -> list[str]:
    import duckdb

    duckdb.connect(str(ctx.project / "e.duckdb")).close()
    return ["status", "--db", "e.duckdb"]
