"""``enrich prompts``: the prompt library (list, show, render, diff)."""

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(rich_markup_mode=None,
                  help="The prompt library: list, show, render and diff prompt files.",
                  no_args_is_help=True)

PromptsDir = Annotated[Path, typer.Option("--prompts", help="Prompt folder")]


@app.command("list")
def list_prompts(prompts: PromptsDir = Path("prompts")) -> None:
    """Every prompt with its version (content hash), schema and description: the project's
    own (prompts/) and the built-in library's, marked by source."""
    from rich.console import Console
    from rich.table import Column, Table

    from enrich.prompts import PromptLibrary

    library = PromptLibrary(prompts)
    table = Table(Column("name", no_wrap=True), Column("source", no_wrap=True), "version",
                  "task", "schema", "description")
    for path, source in library.sources():
        prompt = library.load_file(path)
        table.add_row(prompt.name, source, prompt.version, prompt.task or "",
                      prompt.schema_name, prompt.description)
    Console().print(table)
    if not library.paths():
        typer.echo(f"no project prompts in {prompts}: the list shows the built-in library; "
                   "start a project with `enrich init`", err=True)


@app.command("show")
def show(name: str, prompts: PromptsDir = Path("prompts")) -> None:
    """Show a prompt file, its version and the JSON Schema it asks for."""
    from rich.console import Console
    from rich.syntax import Syntax

    from enrich.prompts import PromptLibrary
    from enrich.schema_registry import SchemaRegistry

    prompt = PromptLibrary(prompts).get(name)
    console = Console()
    console.print(f"[bold]{prompt.name}[/] @ {prompt.version}")
    console.print(Syntax(prompt.to_yaml(), "yaml", word_wrap=True))
    schema = SchemaRegistry(prompts.parent / "schemas").get(prompt.schema_name)
    console.print(f"[bold]output schema[/] {schema.name}")
    console.print(Syntax(json.dumps(schema.json_schema, indent=2), "json"))


@app.command("render")
def render(name: str, row: Annotated[str, typer.Option(help="The row as a JSON object")],
           prompts: PromptsDir = Path("prompts")) -> None:
    """Render a prompt for one row and print the chat messages."""
    from enrich.errors import ConfigError
    from enrich.prompts import PromptLibrary, RenderError, template_variables

    try:
        values = json.loads(row)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--row is not valid JSON: {exc}", "pass a JSON object") from exc
    if not isinstance(values, dict):
        raise ConfigError("--row must be a JSON object", 'e.g. --row \'{"title": "Heat"}\'')
    prompt = PromptLibrary(prompts).get(name)
    try:
        messages = prompt.render(template_variables(values))
    except RenderError as exc:
        raise ConfigError(str(exc), "add the missing field to --row") from exc
    for message in messages:
        typer.echo(f"--- {message['role']} ---\n{message['content']}")


@app.command("diff")
def diff(name: str,
         old: Annotated[str | None, typer.Option("--from", help="Older version")] = None,
         new: Annotated[str | None, typer.Option("--to", help="Newer version")] = None,
         prompts: PromptsDir = Path("prompts"),
         db: Annotated[Path | None, typer.Option("--db", help="DuckDB file")] = None) -> None:
    """Text diff between two versions of a prompt (from the store and the current file)."""
    from enrich.prompt_versions import PromptVersions

    typer.echo(PromptVersions(prompts, db).diff(name, old, new) or "no differences")
