"""The ``enrich`` command line (Typer). Thin: parse options, call the library, print.

Sub-commands live in ``enrich/commands/`` by noun; each imports what it needs inside its body,
so ``enrich --help`` loads neither DuckDB nor any model library.
"""

import os
import sys

import typer

from enrich.commands import batch as batch_commands
from enrich.commands import batch_provider as batch_provider_commands
from enrich.commands import dashboard as dashboard_commands
from enrich.commands import distill as distill_commands
from enrich.commands import eval as eval_commands
from enrich.commands import index as index_commands
from enrich.commands import init as init_commands
from enrich.commands import plan as plan_commands
from enrich.commands import prompts as prompts_commands
from enrich.commands import run as run_commands
from enrich.commands import schemas as schemas_commands
from enrich.commands import status as status_commands
from enrich.commands import tasks as tasks_commands
from enrich.gc_pacing import configured_young, paced_collections

app = typer.Typer(
    name="enrich",
    help="Batch LLM enrichment for search and recommendation: run versioned prompts over "
         "catalogues and query logs, store every result with provenance in DuckDB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # plain Click help: rich's help panels import ~0.2 s of modules (rich.markdown,
    # markdown_it) and would make `enrich --help` miss its 0.3 s budget (bench target 4)
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")
          ) -> None:
    """enrich: LLM enrichment jobs, prompt library, distillation and evaluation."""


app.command("init")(init_commands.init)
app.command("run")(run_commands.run)
app.command("retry")(run_commands.retry)
app.command("plan")(plan_commands.plan)
app.command("status")(status_commands.status)
app.command("export")(status_commands.export)
app.command("models")(run_commands.models)
app.add_typer(prompts_commands.app, name="prompts")
app.add_typer(tasks_commands.app, name="tasks")
app.add_typer(eval_commands.app, name="eval")
app.command("dashboard")(dashboard_commands.dashboard)
app.add_typer(distill_commands.app, name="distill")
app.add_typer(index_commands.app, name="index")
app.command("search")(index_commands.search)
app.add_typer(schemas_commands.app, name="schemas")
batch_commands.app.command("submit")(batch_provider_commands.submit)
batch_commands.app.command("status")(batch_provider_commands.status)
batch_commands.app.command("fetch")(batch_provider_commands.fetch)
app.add_typer(batch_commands.app, name="batch")


def _without_secrets(text: str) -> str:
    """``text`` with the values of secret-looking environment variables redacted (whatever
    failed may have echoed an API key: a server's error, an exception's message)."""
    from enrich.redact import redact

    secrets = [value for name, value in os.environ.items() if len(value) >= 8 and any(
        word in name.upper() for word in ("KEY", "TOKEN", "SECRET", "PASSWORD"))]
    return redact(text, secrets) if secrets else text


def _fail(message: str, hint: str, code: int) -> None:
    """Print one line, ``error: WHAT — WHAT TO DO``, and exit with ``code``."""
    line = f"error: {message}" + (f" — {hint}" if hint else "")
    print(" ".join(_without_secrets(line).split()), file=sys.stderr)
    sys.exit(code)


def _fail_unexpected(exc: Exception) -> None:
    """A command-line usage error (Click's, however Typer vendors it), or a bug."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    if all(hasattr(exc, name) for name in ("format_message", "exit_code", "show")):
        context = getattr(exc, "ctx", None)
        where = context.command_path if context is not None else "enrich"
        _fail(exc.format_message(), f"see `{where} --help`", exc.exit_code)  # type: ignore
    _fail(f"internal error: {type(exc).__name__}: {exc}",
          "this is a bug in enrich: run again with --debug to see the traceback, and report it",
          70)


def main() -> None:
    """Console-script entry point: every error becomes one actionable line, no traceback.

    Exit codes: 0 done; 1 ``status --check`` found problems; 2 a mistake to fix (job file,
    source, prompt, schema, backend, store, command line); 70 an internal error (a bug: rerun
    with ``--debug`` for the traceback); 130 interrupted (run the same command to resume).
    """
    from enrich.errors import EnrichError

    debug = "--debug" in sys.argv or os.environ.get("ENRICH_DEBUG", "") not in ("", "0")
    from enrich.command_signals import CommandSignals

    # Ctrl-C, SIGTERM (a scheduler stopping the job) and SIGHUP (a closed terminal) are the same
    # clean stop, exit 130; during a run, the runner's own handler takes over and finishes the
    # requests in flight first
    signals = CommandSignals()
    signals.install()
    try:
        with paced_collections(configured_young(os.environ)):  # see enrich/gc_pacing.py
            code = app(standalone_mode=False)
    except EnrichError as exc:
        if debug:
            raise
        _fail(exc.message, exc.hint, exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", "run the same command again to resume", 130)
    except Exception as exc:  # noqa: BLE001 - usage errors, and bugs: one line each
        if signals.received:  # a library turned the KeyboardInterrupt into its own error
            _fail("interrupted", "run the same command again to resume", 130)
        if debug:
            raise
        from enrich.optional import missing_module_error

        missing = missing_module_error(exc, "this command")  # an optional package: exit 2
        if missing is not None:
            _fail(missing.message, missing.hint, missing.exit_code)
        _fail_unexpected(exc)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
