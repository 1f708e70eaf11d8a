"""Who answers a scale-out attempt's requests: Ray Data over a cluster, or this process.

Both take the attempt's Parquet shards and a :class:`WorkerSpec`, run :class:`GenerateBatch`
over them in batches of ``batch_rows`` requests, and yield one summary per batch (``file``,
``requests``, ``ok``, ``failed``) as batches finish; the result files are written by the
workers themselves.

- :class:`RayExecutor`: ``ray.data.read_parquet(shards).map_batches(GenerateBatch, compute=
  ActorPoolStrategy(size=workers))``. Each actor starts its backend once (one ``vllm.LLM`` per
  GPU worker with ``num_gpus=1``); Ray restarts an actor that dies and runs its batch again
  (``max_restarts=-1``, ``max_task_retries=-1``, Ray Data's defaults for actor pools).
- :class:`LocalExecutor`: the same worker class in this process, batch after batch (tests, and
  a check of a job before it goes to a cluster).

Example:
    >>> for done in RayExecutor(RayOptions(address="auto")).run(files, spec):  # doctest: +SKIP
    ...     print(done["requests"])
"""

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from enrich.errors import BackendError, ConfigError
from enrich.jobs import JobSpec
from enrich.scale.spec import WorkerSpec
from enrich.scale.worker import GenerateBatch


class RayOptions(BaseModel):
    """How a run uses Ray.

    Attributes:
        address: ``None`` starts a local Ray instance; ``auto`` joins the cluster this machine
            is part of (``ray start``); ``ray://HOST:10001`` connects through Ray Client.
        workers: actors (one backend each); default: one per GPU for ``vllm``, else one per
            two CPUs of the cluster.
        batch_rows: requests per batch at most (one result file each; the unit Ray runs
            again when a worker dies); smaller for small runs (:func:`batch_size`).
        num_cpus: CPUs per actor (default 1 for llamacpp, 0.5 for the HTTP backend).
        num_gpus: GPUs per actor (default 1 for ``vllm``, else 0).
        local_cpus: CPUs of a local instance (``address`` None; default all).
        progress_bars: Ray Data's own progress bars.
    """

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    workers: int | None = Field(default=None, ge=1)
    batch_rows: int = Field(default=256, ge=1)
    num_cpus: float | None = Field(default=None, gt=0)
    num_gpus: float | None = Field(default=None, ge=0)
    local_cpus: int | None = Field(default=None, ge=1)
    progress_bars: bool = False


class Executor(Protocol):
    """Runs :class:`GenerateBatch` over the shards (``requests`` in all); yields one summary
    per batch."""

    def run(self, shards: list[Path], spec: WorkerSpec, requests: int
            ) -> Iterator[dict[str, Any]]:
        ...


def batch_size(largest: int, requests: int, workers: int, concurrency: int) -> int:
    """Requests per batch: at most ``largest``, small enough that every worker gets about four
    batches (a dead worker costs little, progress shows), large enough to keep the backend's
    ``concurrency`` busy (twice it).

    Example:
        >>> batch_size(256, 40, 2, 2), batch_size(256, 10_000, 4, 64)
        (5, 256)
    """
    return max(1, min(largest, max(2 * concurrency, -(-requests // (4 * workers)))))


class LocalExecutor:
    """The worker in this process (see the module docstring).

    Args:
        batch_rows: requests per batch.
    """

    def __init__(self, batch_rows: int = 256):
        self.batch_rows = batch_rows

    def run(self, shards: list[Path], spec: WorkerSpec, requests: int = 0
            ) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        worker = GenerateBatch(spec.model_dump())
        try:
            for shard in shards:
                for batch in pq.ParquetFile(shard).iter_batches(self.batch_rows):
                    summary = worker(batch.to_pydict())
                    yield {name: values[0] for name, values in summary.items()}
        finally:
            worker.close()


class RayExecutor:
    """Ray Data over a local instance or a cluster (see the module docstring).

    Args:
        options: address, workers and resources.
    """

    def __init__(self, options: RayOptions):
        self.options = options

    def run(self, shards: list[Path], spec: WorkerSpec, requests: int
            ) -> Iterator[dict[str, Any]]:
        ray = import_ray()
        connect(ray, self.options)
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = self.options.progress_bars
        context.print_on_execution_start = self.options.progress_bars
        job = JobSpec.model_validate_json(spec.job_json)
        kind = job.backend.kind
        workers = self.options.workers or default_workers(ray, kind)
        gpus = self.options.num_gpus if self.options.num_gpus is not None else (
            1.0 if kind == "vllm" else 0.0)
        cpus = self.options.num_cpus or (1.0 if kind in ("llamacpp", "vllm") else 0.5)
        dataset = ray.data.read_parquet([str(p) for p in shards],
                                        override_num_blocks=max(len(shards), workers)
                                        ).map_batches(
            GenerateBatch, fn_constructor_kwargs={"spec": spec.model_dump()},
            batch_size=batch_size(self.options.batch_rows, requests, workers, job.concurrency),
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus,
            num_gpus=gpus or None)
        try:
            with warnings.catch_warnings():  # (Ray Data's advice on tiny inputs is noise here)
                warnings.filterwarnings("ignore", "The minimum number of concurrent actors")
                yield from dataset.iter_rows()
        except ray.exceptions.RayError as exc:
            raise BackendError(f"the Ray job failed: {first_line(exc)}",
                               "what the workers finished is kept; fix the cause and run the "
                               "same command again to resume") from None


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("`--ray` needs Ray Data, which is not installed",
                          "pip install 'enrich[ray]'") from None
    return ray


def connect(ray: Any, options: RayOptions) -> None:
    """Join (or start) the Ray instance once per process."""
    import logging

    if ray.is_initialized():
        return
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        if options.address is None:
            ray.init(num_cpus=options.local_cpus, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(address=options.address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = options.address or "a local instance"
        raise BackendError(f"cannot start or reach Ray at {where}: {first_line(exc)}",
                           "start the cluster (`ray start --head`) or fix --address "
                           "(auto, or ray://HOST:10001)") from None


def default_workers(ray: Any, kind: str) -> int:
    """One actor per GPU for vLLM, else one per two CPUs of the cluster (at least one)."""
    resources = ray.cluster_resources()
    if kind == "vllm":
        gpus = int(resources.get("GPU", 0))
        if gpus < 1:
            raise ConfigError("the vllm backend on Ray needs GPU workers, and the cluster has "
                              "none", "add GPU nodes, or use --backend openai against a "
                              "`vllm serve` endpoint")
        return gpus
    return max(1, int(resources.get("CPU", 1)) // 2)


def first_line(exc: BaseException) -> str:
    """The most useful line of an exception Ray wrapped (the cause's own message)."""
    cause = getattr(exc, "cause", None)
    text = str(cause if cause is not None else exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]
