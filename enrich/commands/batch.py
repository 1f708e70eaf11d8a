"""``enrich batch export`` and ``enrich batch import``: provider batch files (OpenAI Batch API,
``vllm run-batch``)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from enrich.commands.run import DbOption

app = typer.Typer(help="Provider batch files: export pending requests as OpenAI Batch API / "
                       "`vllm run-batch` JSONL, import the results.", no_args_is_help=True)

JobArgument = Annotated[Path, typer.Argument(help="Job file, e.g. jobs/homedepot_item_metadata"
                                                  ".yaml")]
ModelOption = Annotated[str | None, typer.Option(
    help="Model name in the bodies (as `enrich run --model`); the same for export and import")]
SourceOption = Annotated[Path | None, typer.Option(
    help="Read rows from this file instead of the job's source.path (same columns)")]
LimitOption = Annotated[int | None, typer.Option(min=0, help="Only the first N rows")]


def job_options(db: Path | None, model: str | None, source: Path | None,
                limit: int | None) -> str:
    """The options that chose the job's requests and store, as given, for a next-step hint
    (a hint without ``--model`` would match none of the exported requests)."""
    import shlex

    given = (("--db", db), ("--model", model), ("--source", source), ("--limit", limit))
    return "".join(f" {flag} {shlex.quote(str(value))}" for flag, value in given
                   if value is not None)


def _job(job: Path, model: str | None, source: Path | None, limit: int | None) -> Any:
    from enrich.commands.run import _OPTION_OF
    from enrich.jobs import load_job

    overrides: dict[str, Any] = {
        "backend.model": model, "limit": limit,
        "source.path": str(source.expanduser().resolve()) if source else None}
    return load_job(job, overrides, _OPTION_OF)


@app.command("export")
def export(
    job: JobArgument,
    out: Annotated[Path, typer.Option(help="JSONL file to write (more files past "
                                           "--max-requests: NAME.part2.jsonl, ...)")],
    fmt: Annotated[str, typer.Option("--format", help="openai | vllm")] = "openai",
    max_requests: Annotated[int | None, typer.Option(
        min=1, help="Lines per file at most [default: 50000 for openai, no limit for vllm]")
    ] = None,
    db: DbOption = None,
    model: ModelOption = None,
    source: SourceOption = None,
    limit: LimitOption = None,
) -> None:
    """Write the job's pending requests as a batch file (custom_id = cache key).

    Rows whose answer is stored already are left out; rows that render the same prompt share
    one line. Send the file with OpenAI's Batch API or `vllm run-batch -i FILE -o RESULTS`,
    then load the results with `enrich batch import`.
    """
    from rich.console import Console

    spec = _job(job, model, source, limit)
    summary = export_pending(spec, out, fmt, max_requests, db)
    console = Console(soft_wrap=True)  # (lines stay whole: logs, grep)
    console.print(export_counts(summary))
    if not summary.files:
        console.print("nothing to export: every row's answer is stored")
        return
    console.print(f"wrote {summary.requests:,} requests to {', '.join(summary.files)}")
    send = (f"vllm run-batch -i {summary.files[0]} -o results.jsonl --model "
            f"{spec.backend.model}" if fmt == "vllm" else "upload it to OpenAI's Batch API "
            "(purpose=batch, endpoint /v1/chat/completions; `enrich batch submit` does it)")
    console.print(f"next: {send}, then `enrich batch import {job} RESULTS.jsonl"
                  f"{job_options(db, model, source, limit)}`")


def export_counts(summary: Any) -> str:
    """One line: the job's rows and what becomes of them (``ExportSummary``)."""
    total = summary.rows + summary.rows_stored
    return (f"{total:,} row{'' if total == 1 else 's'}: {summary.rows_stored:,} stored by "
            f"the job's unfinished run, {summary.rows_cached:,} answered before (cache), "
            f"{summary.rows_failed_before:,} failed before (`enrich retry`), "
            f"{summary.rows_not_renderable:,} not renderable (stored as failures on import)")


def export_pending(spec: Any, out: Path, fmt: str, max_requests: int | None,
                   db: Path | None) -> Any:
    """Write the job's pending requests (``ExportSummary``); see ``export``."""
    import asyncio

    from enrich.batch_files.export import OPENAI_MAX_REQUESTS, export_requests
    from enrich.errors import ConfigError
    from enrich.plan import RunPlan
    from enrich.settings import EnrichSettings
    from enrich.store import Store

    if fmt not in ("openai", "vllm"):
        raise ConfigError(f"unknown batch format `{fmt}`", "pass --format openai or vllm")
    per_file = max_requests or (OPENAI_MAX_REQUESTS if fmt == "openai" else None)
    location = EnrichSettings().store_location(db)
    with Store(location.path, origin=location.origin,
               memory_mb=location.memory_mb) as store:
        plan = RunPlan.build(spec, store)
        return asyncio.run(export_requests(plan, store, out, fmt, per_file))  # type: ignore


@app.command("import")
def import_(
    job: JobArgument,
    results: Annotated[list[Path], typer.Argument(
        help="Results files (OpenAI's output and error files, or `vllm run-batch -o`)")],
    db: DbOption = None,
    model: ModelOption = None,
    source: SourceOption = None,
    limit: LimitOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Store a batch's results as a live run would: validation, repair, task fields, failure
    rows. Rows missing from the files (or expired) stay pending; importing again is safe.
    """
    resume = (f"`enrich batch export {job} --out MORE.jsonl"
              f"{job_options(db, model, source, limit)}` writes their requests again")
    import_files(_job(job, model, source, limit), results, db, quiet=quiet, resume=resume)


def import_files(spec: Any, results: list[Path], db: Path | None, *, quiet: bool,
                 resume: str) -> None:
    """Store results files as a live run would, then print what was read and stored
    (``resume``: what to do about rows the files did not answer)."""
    from rich.console import Console

    from enrich.batch_files.importer import import_results
    from enrich.batch_files.results import read_results
    from enrich.commands.summary import TokenTotals, print_summary
    from enrich.plan import RunPlan
    from enrich.settings import EnrichSettings
    from enrich.store import Store, now_us

    index = read_results(results, spec.backend.model)
    console = Console(soft_wrap=True)  # (lines stay whole: logs, grep)
    location = EnrichSettings().store_location(db)
    since = now_us()
    with Store(location.path, origin=location.origin,
               memory_mb=location.memory_mb) as store:
        plan = RunPlan.build(spec, store)
        outcome = import_results(plan, store, index, None if quiet else Console(stderr=True))
        tokens = TokenTotals.measure(store, outcome.summary, since) if outcome.summary else None
    counts = index.counts()
    console.print(f"read {index.lines:,} result lines: {counts['answer']:,} answers, "
                  f"{counts['failure']:,} errors, {counts['not_run']:,} not run (expired or "
                  f"cancelled), {index.duplicates:,} repeated keys")
    if index.unreadable:
        console.print(f"[yellow]{index.unreadable:,} lines are not result lines[/] (their rows "
                      f"stay pending); first: {index.first_unreadable}")
    if outcome.summary is None:
        console.print(f"nothing to import: run {outcome.finished_run} already holds every row "
                      "of this job")
        return
    print_summary(outcome.summary, console, job_path=spec.path, tokens=tokens,
                  resume=f"they have no result in these files: {resume}")
