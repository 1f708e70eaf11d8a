"""The ``enrich`` command line (Typer). Thin: parse options, call the library, print.

Sub-commands live in ``enrich/commands/`` by noun; each imports what it needs inside its body,
so ``enrich --help`` loads neither DuckDB nor any model library.
"""

import os
import sys

import typer

from enrich.commands import distill as distill_commands
from enrich.commands import index as index_commands
from enrich.commands import prompts as prompts_commands
from enrich.commands import run as run_commands
from enrich.commands import schemas as schemas_commands
from enrich.commands import status as status_commands

app = typer.Typer(
    name="enrich",
    help="Batch LLM enrichment for search and recommendation: run versioned prompts over "
         "catalogues and query logs, store every result with provenance in DuckDB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")
          ) -> None:
    """enrich: LLM enrichment jobs, prompt library, distillation and evaluation."""


app.command("run")(run_commands.run)
app.command("retry")(run_commands.retry)
app.command("status")(status_commands.status)
app.command("export")(status_commands.export)
app.command("models")(run_commands.models)
app.add_typer(prompts_commands.app, name="prompts")
app.add_typer(distill_commands.app, name="distill")
app.add_typer(index_commands.app, name="index")
app.add_typer(index_commands.search_app, name="search")
app.add_typer(schemas_commands.app, name="schemas")


def main() -> None:
    """Console-script entry point: expected errors become one actionable line, no traceback."""
    from enrich.errors import EnrichError

    debug = "--debug" in sys.argv or os.environ.get("ENRICH_DEBUG", "") not in ("", "0")
    try:
        app()
    except EnrichError as exc:
        if debug:
            raise
        message = f"error: {exc.message}"
        if exc.hint:
            message += f" — {exc.hint}"
        print(message, file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
