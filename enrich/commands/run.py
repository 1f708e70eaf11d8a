"""``enrich run``, ``enrich retry`` and ``enrich models``."""

from pathlib import Path
from typing import Annotated, Any

import typer

# which option sets which job key: a bad value blames the option, not the job file
_OPTION_OF = {"backend.kind": "--backend", "backend.base_url": "--base-url",
              "backend.model": "--model", "backend.server": "--server",
              "backend.api_key_env": "--api-key-env", "limit": "--limit",
              "concurrency": "--concurrency", "source.path": "--source"}

DbOption = Annotated[Path | None, typer.Option("--db", help="DuckDB file [env: ENRICH_DB; "
                                                            "default: enrich.duckdb]")]


def run(
    job: Annotated[Path, typer.Argument(help="Job file, e.g. jobs/movielens_item_metadata.yaml")],
    db: DbOption = None,
    backend: Annotated[str | None, typer.Option(help="llamacpp | openai | vllm")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL")] = None,
    model: Annotated[str | None, typer.Option(help="Model name or .gguf path")] = None,
    server: Annotated[str | None, typer.Option(
        help="Structured-output dialect: vllm | vllm-legacy | openai | llamacpp-server")] = None,
    source: Annotated[Path | None, typer.Option(
        help="Read rows from this file instead of the job's source.path (same columns)")] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Only the first N rows")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Requests in flight")] = None,
    api_key_env: Annotated[str | None, typer.Option(
        help="Environment variable holding the API key")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    ray: Annotated[bool, typer.Option("--ray", help="Answer the requests on Ray Data (pip "
                                      "install 'enrich[ray]'; see docs/scaling.md)")] = False,
    address: Annotated[str | None, typer.Option(
        help="With --ray: auto | ray://HOST:10001 (default: start a local instance)")] = None,
    shards: Annotated[int | None, typer.Option(min=1, help="With --ray: Parquet shards")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="With --ray: actors")] = None,
    work_dir: Annotated[Path | None, typer.Option(
        help="With --ray: shards and result files (a folder every node sees)")] = None,
) -> None:
    """Run a job: render its prompt for every source row, call the LLM, store validated output.

    Options override the job file. Running an unchanged job again makes no LLM call; running
    an interrupted one resumes it.
    """
    from enrich.jobs import load_job

    overrides: dict[str, Any] = {
        "backend.kind": backend, "backend.base_url": base_url, "backend.model": model,
        "backend.server": server, "backend.api_key_env": api_key_env, "limit": limit,
        "concurrency": concurrency,
        "source.path": str(source.expanduser().resolve()) if source else None}
    if ray:  # (enrich/scale: the same run, its requests answered by Ray Data workers)
        from enrich.scale.command import RayOptions, run_on_ray

        return run_on_ray(load_job(job, overrides, _OPTION_OF), db, quiet=quiet, shards=shards,
                          ray=RayOptions(address=address, workers=workers), work_dir=work_dir)
    _execute(load_job(job, overrides, _OPTION_OF), db, quiet=quiet)


def retry(
    run_id: Annotated[str, typer.Argument(help="Run id (see `enrich status`)")],
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Re-send only the rows of a run that failed, with the run's own settings.

    The rows are rendered from the inputs stored with the failures, with the prompt version
    the run used: the source file and the prompt file may have changed (or gone) since.
    """
    from enrich.errors import ConfigError
    from enrich.jobs import JobSpec, find_project_root
    from enrich.settings import EnrichSettings
    from enrich.store import Store

    location = EnrichSettings().store_location(db)
    with Store(location.path, read_only=True, origin=location.origin) as store:
        row = store.sql("SELECT config, job_path, prompt_name, prompt_version FROM runs "
                        "WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        raise ConfigError(f"no run `{run_id}` in {location.path}",
                          "list runs with `enrich status`")
    job = JobSpec.model_validate_json(row[0])
    job = job.model_copy(update={"prompt": f"{row[2]}@{row[3]}"})
    if row[1]:
        job = job.model_copy(update={"path": Path(row[1]),
                                     "root": find_project_root(Path(row[1]).parent)})
    _execute(job, db, quiet=quiet, retry_run=run_id)


def _execute(job: Any, db: Path | None, *, quiet: bool, retry_run: str | None = None) -> None:
    from rich.console import Console

    from enrich.commands.summary import print_summary
    from enrich.errors import Interrupted

    again = f"enrich retry {retry_run}" if retry_run else f"enrich run {job.path or 'JOB.yaml'}"
    try:
        summary, tokens = _run_job(job, db, quiet=quiet, retry_run=retry_run)
    except KeyboardInterrupt:  # Ctrl-C before the run's own handler was installed, or after
        raise Interrupted("interrupted; every row stored so far is kept",
                          f"run `{again}` again to resume") from None
    print_summary(summary, Console(), job_path=job.path, tokens=tokens)
    if summary.status == "interrupted":
        raise typer.Exit(130)


def _run_job(job: Any, db: Path | None, *, quiet: bool, retry_run: str | None) -> Any:
    import asyncio

    from rich.console import Console

    from enrich.backends import create_backend
    from enrich.commands.summary import TokenTotals
    from enrich.errors import ConfigError
    from enrich.plan import RunPlan
    from enrich.runner import Runner
    from enrich.settings import EnrichSettings
    from enrich.store import Store, now_us

    settings = EnrichSettings()
    console = Console(stderr=True)
    location = settings.store_location(db)
    with Store(location.path, origin=location.origin,
               memory_mb=location.memory_mb) as store:
        plan = RunPlan.build(job, store, retry_run=retry_run)
        if retry_run:
            stored = store.sql("SELECT prompt_version FROM runs WHERE run_id = ?",
                               [retry_run]).fetchone()
            if stored and stored[0] != plan.prompt.version:
                raise ConfigError(f"prompt `{plan.prompt.name}` changed since run {retry_run} "
                                  f"({stored[0]} → {plan.prompt.version})",
                                  "run the job again instead: a new prompt is a new run")
        def backend() -> Any:  # made only when a request must be sent (never for a replay)
            return create_backend(job.backend, concurrency=job.concurrency,
                                  cache_dir=settings.cache_dir, n_threads=settings.n_threads,
                                  logprobs=bool(plan.params.get("logprobs")))

        runner = Runner(plan, store, backend, console=None if quiet else console,
                        retry_run=retry_run, gc_young=settings.gc_young)
        since = now_us()
        summary = asyncio.run(runner.run())
        # the totals `enrich status` shows, and failed attempts' tokens apart from them
        return summary, TokenTotals.measure(store, summary, since)


def models() -> None:
    """List the embedded models that PyPI packages provide, and whether each is installed."""
    import importlib.util

    from rich.console import Console
    from rich.table import Table

    from enrich.backends.model_files import KNOWN_MODELS

    table = Table("name", "installed", "description", "install with")
    for known in KNOWN_MODELS.values():
        installed = all(importlib.util.find_spec(p) is not None for p in known.packages)
        table.add_row(known.name, "yes" if installed else "[red]no",
                      known.description, known.install)
    Console().print(table)
