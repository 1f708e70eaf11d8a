"""``enrich batch submit``, ``status`` and ``fetch``: a job's pending requests through a
provider's Batch API (OpenAI's, or one that copies it), with the ``openai`` SDK
(``pip install 'enrich[batch]'``). The files are those of ``enrich batch export`` and the
results go through ``enrich batch import``'s path (validation, repair, cache, failure rows).
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from enrich.commands.batch import (
    JobArgument,
    LimitOption,
    ModelOption,
    SourceOption,
    _job,
    export_counts,
    export_pending,
    import_files,
    job_options,
)
from enrich.commands.run import DbOption

BaseUrlOption = Annotated[str | None, typer.Option(
    help="Batch API URL [env: OPENAI_BASE_URL; default: https://api.openai.com/v1]")]
KeyOption = Annotated[str, typer.Option(
    help="Environment variable holding the Batch API's key")]
BatchOption = Annotated[list[str] | None, typer.Option(
    "--batch", help="Batch id (repeat for several) [default: the job's batches]")]


def _client(base_url: str | None, api_key_env: str) -> tuple[Any, str]:
    from enrich.batch_files.provider import batch_client

    client = batch_client(base_url, api_key_env)
    return client, str(client.base_url).rstrip("/")


def _files_folder(db: Path | None, job: str) -> Path:
    """``batches/JOB/`` next to the store: the request files sent and the results fetched."""
    from enrich.settings import EnrichSettings

    store = EnrichSettings().store_location(db).path
    return store.expanduser().resolve().parent / "batches" / job


def submit(
    job: JobArgument,
    db: DbOption = None,
    model: ModelOption = None,
    source: SourceOption = None,
    limit: LimitOption = None,
    base_url: BaseUrlOption = None,
    api_key_env: KeyOption = "OPENAI_API_KEY",
    window: Annotated[str, typer.Option(help="Completion window the provider accepts")] = "24h",
    max_requests: Annotated[int | None, typer.Option(
        min=1, help="Requests per batch at most [default: 50000]")] = None,
) -> None:
    """Export the job's pending requests and send them to the Batch API (half the price of
    live calls; results within the completion window).

    Then `enrich batch status JOB` until they are completed, and `enrich batch fetch JOB` to
    store the results. Rows whose answer is stored already are not sent.
    """
    from rich.console import Console

    from enrich.batch_files.provider import provider_errors, submit_files

    spec = _job(job, model, source, limit)
    client, url = _client(base_url, api_key_env)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = _files_folder(db, spec.name) / f"requests-{stamp}.jsonl"
    summary = export_pending(spec, out, "openai", max_requests, db)
    console = Console(soft_wrap=True)
    if not summary.files:
        console.print(export_counts(summary))
        console.print(f"nothing to send: every row of `{spec.name}` has a stored answer (or "
                      "failed before: `enrich retry`)")
        return
    with provider_errors("upload the requests and create the batch", url):
        batches = submit_files(client, [Path(f) for f in summary.files], spec.name, window)
    console.print(export_counts(summary))
    console.print(f"sent {summary.requests:,} request{'s' if summary.requests != 1 else ''} "
                  f"to {url} as {len(batches)} batch{'es' if len(batches) > 1 else ''}: "
                  + ", ".join(b.id for b in batches))
    console.print(f"request files kept in {out.parent}")
    console.print(f"next: `enrich batch status {job}`, then `enrich batch fetch {job}"
                  f"{job_options(db, model, source, limit)}` once they are completed")


def status(
    job: Annotated[Path | None, typer.Argument(
        help="Job file: show its batches [default: every batch enrich sent]")] = None,
    batch: BatchOption = None,
    base_url: BaseUrlOption = None,
    api_key_env: KeyOption = "OPENAI_API_KEY",
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Show the state of a job's batches at the provider (newest first)."""
    from rich.console import Console
    from rich.table import Column, Table

    from enrich.batch_files.provider import find_batches, provider_errors

    spec = _job(job, None, None, None) if job else None
    client, url = _client(base_url, api_key_env)
    with provider_errors("read the batches", url):
        batches = find_batches(client, spec.name if spec else None, batch or [])
    console = Console(soft_wrap=True)
    if as_json:
        for found in batches:
            typer.echo(found.model_dump_json())
        return
    if not batches:
        console.print(f"no batches of {f'`{spec.name}`' if spec else 'enrich'} at {url}")
        return
    table = Table(Column("batch", no_wrap=True), "job", "status", "done", "failed", "total",
                  "created (UTC)")
    for found in batches:
        table.add_row(found.id, found.job or "", found.status, f"{found.completed:,}",
                      f"{found.failed:,}", f"{found.total:,}",
                      found.created_at.strftime("%Y-%m-%d %H:%M"))
    # (piped or logged, rich would fit the table to 80 columns and cut the ids and states)
    (console if console.is_terminal else Console(soft_wrap=True, width=160)).print(table)
    for found in batches:
        for error in found.errors:
            console.print(f"[red]{found.id}: {error}")


def fetch(
    job: JobArgument,
    batch: BatchOption = None,
    db: DbOption = None,
    model: ModelOption = None,
    source: SourceOption = None,
    limit: LimitOption = None,
    base_url: BaseUrlOption = None,
    api_key_env: KeyOption = "OPENAI_API_KEY",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Download the results of the job's finished batches and store them as `enrich batch
    import` does. Batches still running are left for later; fetching again is safe."""
    from rich.console import Console

    from enrich.batch_files.provider import download_results, find_batches, provider_errors

    spec = _job(job, model, source, limit)
    client, url = _client(base_url, api_key_env)
    console = Console(soft_wrap=True)
    with provider_errors("read the batches", url):
        batches = find_batches(client, spec.name, batch or [])
    if not batches:
        console.print(f"no batches of `{spec.name}` at {url}: send some with "
                      f"`enrich batch submit {job}`")
        return
    folder = _files_folder(db, spec.name)
    files: list[Path] = []
    for found in batches:
        if not found.finished:
            console.print(f"{found.id}: still {found.status} ({found.completed:,} of "
                          f"{found.total:,} done); fetch again later")
            continue
        with provider_errors(f"download the results of {found.id}", url):
            got = download_results(client, found, folder)
        console.print(f"{found.id}: {found.status}, {len(got)} file(s) → {folder}")
        files += got
    if files:
        import_files(spec, files, db, quiet=quiet, resume=(
            f"`enrich batch submit {job}{job_options(db, model, source, limit)}` sends "
            "their requests again"))
