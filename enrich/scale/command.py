"""What ``enrich run JOB --ray`` does after parsing its options: open the store, run the job
with Ray Data answering its requests, print the summary as ``enrich run`` does."""

from pathlib import Path
from typing import Any

import typer

from enrich.scale.executors import RayExecutor, RayOptions


def run_on_ray(job: Any, db: Path | None, *, quiet: bool, ray: RayOptions,
               shards: int | None, work_dir: Path | None) -> None:
    """Run ``job`` on Ray (a local instance, or the cluster at ``ray.address``).

    Args:
        job: the loaded job (options applied).
        db: the store (default: ``ENRICH_DB`` / ``enrich.duckdb``).
        quiet: no progress bar.
        ray: how to reach Ray and size the workers.
        shards: Parquet shards the requests are split into.
        work_dir: shards and result files (default: ``STORE.scale/`` beside the store).
    """
    from rich.console import Console

    from enrich.commands.summary import TokenTotals, print_summary
    from enrich.plan import RunPlan
    from enrich.scale.ray_run import ScaleOptions, run_scaled
    from enrich.settings import EnrichSettings
    from enrich.store import Store, now_us

    settings = EnrichSettings()
    location = settings.store_location(db)
    folder = work_dir or location.path.with_name(location.path.name + ".scale")
    options = ScaleOptions(work_dir=folder.expanduser().resolve(), shards=shards,
                           cache_dir=settings.cache_dir, n_threads=settings.n_threads)
    since = now_us()
    with Store(location.path, origin=location.origin,
               memory_mb=location.memory_mb) as store:
        plan = RunPlan.build(job, store)
        summary = run_scaled(plan, store, RayExecutor(ray), options,
                             None if quiet else Console(stderr=True))
        tokens = TokenTotals.measure(store, summary, since)
    print_summary(summary, Console(), job_path=job.path, tokens=tokens)
    if summary.status == "interrupted":
        raise typer.Exit(130)
