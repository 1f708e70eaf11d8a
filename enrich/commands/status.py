"""``enrich status`` and ``enrich export``."""

import json
from pathlib import Path
from typing import Annotated

import typer

from enrich.commands.run import DbOption


def status(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    check: Annotated[bool, typer.Option("--check", help="Also check store consistency; "
                                                        "exit 1 on a problem")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Most recent runs to show")] = 20,
) -> None:
    """Runs with their counts (ok, failed, cached, pending), tokens and timing.

    Tokens are those of the stored results, the totals the run summary shows too; what failed
    attempts cost is reported by the run summary on a line of its own.
    """
    from rich.console import Console
    from rich.table import Table

    from enrich.settings import EnrichSettings
    from enrich.store import Store
    from enrich.store.queries import consistency_problems, list_runs

    location = EnrichSettings().store_location(db)
    with Store(location.path, read_only=True, origin=location.origin) as store:
        runs = list_runs(store, limit)
        problems = consistency_problems(store) if check else {}
    if as_json:
        typer.echo(json.dumps({"runs": runs, "problems": problems} if check else runs,
                              indent=2, default=str))
    else:
        table = Table()
        for name in ("run", "job", "status", "ok/cached/failed/pending of rows",
                     "tokens in/out", "model · prompt", "wall s"):
            table.add_column(name, overflow="fold")
        for r in runs:
            table.add_row(
                f"{r['run_id']}\n[dim]{r['started_at'] or ''}", r["job_name"], r["status"],
                f"{r['ok']:,}/{r['cached']:,}/{r['failed']:,}/{r['pending']:,} of "
                f"{r['rows_total']:,}", f"{r['tokens_in']:,}/{r['tokens_out']:,}",
                f"{r['model']}\n[dim]{r['prompt_name']}@{r['prompt_version']}",
                f"{r['wall_s'] or 0:.1f}")
        Console().print(table)
        if check:
            Console().print("[green]store consistent" if not problems else
                            "[red]problems: " + ", ".join(f"{k}: {n}" for k, n in
                                                           problems.items()))
    if problems:
        raise typer.Exit(1)


def export(
    run_or_job: Annotated[str, typer.Argument(help="Run id, or job name (its latest run)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file")],
    fmt: Annotated[str, typer.Option("--format", "-f",
                                     help="parquet | jsonl | csv")] = "parquet",
    db: DbOption = None,
) -> None:
    """Export a run's outputs (input row, validated output, provenance) to a file."""
    from enrich.export import export_run
    from enrich.settings import EnrichSettings
    from enrich.store import Store

    location = EnrichSettings().store_location(db)
    with Store(location.path, read_only=True, origin=location.origin) as store:
        run_id, n = export_run(store, run_or_job, out, fmt)
    typer.echo(f"exported {n:,} rows of {run_id} to {out}")
