"""``enrich plan``: what a job would send, and what it would cost, before it runs."""

from pathlib import Path
from typing import Annotated, Any

import typer

from enrich.commands.run import DbOption


def plan(
    job: Annotated[Path, typer.Argument(help="Job file, e.g. jobs/movielens_item_metadata.yaml")],
    db: DbOption = None,
    model: Annotated[str | None, typer.Option(help="Model name (as `enrich run --model`)")] = None,
    backend: Annotated[str | None, typer.Option(help="llamacpp | openai | vllm")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL")] = None,
    source: Annotated[Path | None, typer.Option(
        help="Read rows from this file instead of the job's source.path")] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Only the first N rows")] = None,
    sample: Annotated[int, typer.Option(min=1, help="Prompts tokenized to measure size")] = 200,
    rows_per_s: Annotated[float | None, typer.Option(
        "--rows-per-s", min=0.0001, help="Throughput to time the run at (requests/s)")] = None,
    price_in: Annotated[float | None, typer.Option(
        "--price-in", min=0.0, help="Price per million prompt tokens")] = None,
    price_out: Annotated[float | None, typer.Option(
        "--price-out", min=0.0, help="Price per million output tokens")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Size a job before spending money: rows, cache hits, requests, tokens, time and cost.

    Renders every row as `enrich run` would and checks the cache; sends nothing.
    """
    from enrich.jobs import load_job

    overrides: dict[str, Any] = {"backend.kind": backend, "backend.base_url": base_url,
                                 "backend.model": model, "limit": limit,
                                 "source.path": str(source.resolve()) if source else None}
    estimate = _estimate(load_job(job, overrides), db, sample=sample, rows_per_s=rows_per_s,
                         price_in=price_in, price_out=price_out, quiet=as_json)
    if as_json:
        print(estimate.model_dump_json(indent=2))
    else:
        _print_table(estimate)


def _estimate(job: Any, db: Path | None, *, quiet: bool, **options: Any) -> Any:
    import tempfile

    from rich.console import Console
    from rich.progress import Progress

    from enrich.plan import RunPlan
    from enrich.run_estimate import estimate_job
    from enrich.settings import EnrichSettings
    from enrich.store import Store

    settings = EnrichSettings()
    path = Path(db or settings.db).expanduser()
    with tempfile.TemporaryDirectory() as scratch:
        # no store yet: an empty one in a scratch folder (plan never creates the user's store)
        store = Store(path, read_only=True) if path.exists() else Store(Path(scratch) / "e.db")
        with store:
            plan = RunPlan.build(job, store)
            total = plan.count_rows()
            with Progress(console=Console(stderr=True), disable=quiet, transient=True) as bar:
                task = bar.add_task(f"rendering {job.name}", total=total)
                return estimate_job(plan, store, cache_dir=settings.cache_dir,
                                    on_rows=lambda n: bar.advance(task, n), **options)


def _print_table(estimate: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    e = estimate
    table = Table(title=f"enrich plan · {e.job}", show_header=False, title_justify="left")
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_column(justify="left", style="dim")
    table.add_row("rows in the source", f"{e.rows:,}", "")
    table.add_row("rows already stored (cache)", f"{e.rows_cached:,}", "")
    table.add_row("rows that failed before", f"{e.rows_failed_before:,}",
                  "kept until `enrich retry`" if e.rows_failed_before else "")
    table.add_row("rows that do not render", f"{e.rows_not_renderable:,}", "")
    table.add_row("requests to send", f"{e.requests_to_send:,}", "rows sharing a prompt share one")
    table.add_row("prompt tokens / request", f"{e.prompt_tokens_per_request:,.1f}",
                  e.prompt_tokens_source)
    table.add_row("output tokens / request", f"{e.output_tokens_per_request:,.1f}",
                  e.output_tokens_source)
    table.add_row("prompt tokens, total", f"{e.prompt_tokens_total:,}", "")
    table.add_row("output tokens, total", f"{e.output_tokens_total:,}", "")
    if e.seconds is not None:
        table.add_row("time", _duration(e.seconds), f"at {e.rows_per_s:g} requests/s")
    if e.cost is not None:
        table.add_row("cost", f"{e.cost:,.2f}", f"at {e.price_in_per_m or 0:g} in / "
                                                 f"{e.price_out_per_m or 0:g} out per 1M tokens")
    Console().print(table)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds / 3600:,.1f} h"
