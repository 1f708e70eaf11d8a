"""Scale-out past one machine: Ray Data answers a run's requests over Parquet shards, and one
writer bulk-loads the results into the DuckDB store (``enrich run JOB --ray``).

Imports nothing heavy: Ray is imported only when a Ray run starts.
"""

from enrich.scale.executors import LocalExecutor, RayExecutor, RayOptions
from enrich.scale.ray_run import ScaleOptions, run_scaled

__all__ = ["LocalExecutor", "RayExecutor", "RayOptions", "ScaleOptions", "run_scaled"]
