"""``enrich schemas``: the output contracts (list them, export them as JSON Schema)."""

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(rich_markup_mode=None,
                  help="Output schemas: list them and export them as JSON Schema files.",
                  no_args_is_help=True)

SchemasDir = Annotated[Path, typer.Option("--schemas", help="Schema folder")]


@app.command("list")
def list_schemas(schemas: SchemasDir = Path("schemas")) -> None:
    """Every output schema with its source (project or built-in), fingerprint and fields."""
    from rich.console import Console
    from rich.table import Column, Table

    from enrich.schema_registry import SchemaRegistry

    registry = SchemaRegistry(schemas)
    table = Table(Column("name", no_wrap=True), "source", "fingerprint", "fields")
    for name in registry.names():
        schema = registry.get(name)
        fields = ", ".join(schema.json_schema.get("properties", {}))
        table.add_row(name, registry.source(name), schema.fingerprint, fields)
    Console().print(table)
    if not schemas.is_dir():
        typer.echo(f"no project schemas in {schemas}: the list shows the built-in library; "
                   "start a project with `enrich init`", err=True)


@app.command("export")
def export_schemas(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for NAME.schema.json files")],
    schemas: SchemasDir = Path("schemas"),
) -> None:
    """Write every schema as a JSON Schema document (what servers receive)."""
    from enrich.schema_registry import SchemaRegistry

    registry = SchemaRegistry(schemas)
    out.mkdir(parents=True, exist_ok=True)
    for name in registry.names():
        target = out / f"{name}.schema.json"
        target.write_text(json.dumps(registry.get(name).json_schema, indent=2) + "\n",
                          encoding="utf-8")
    typer.echo(f"wrote {len(registry.names())} schemas to {out}")
