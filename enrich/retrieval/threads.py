"""Thread caps for the serving path.

On a small CPU, torch's OpenMP pool and the BLAS pool each take every core, and a query that
encodes (torch) and then searches (BLAS) makes them fight: p50 and above all p95 latency grow
several-fold. Capping BLAS to one thread for the search and torch to a fixed count for encoding
keeps one query fast and predictable.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any


def set_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op threads (None leaves torch's default).

    Example:
        >>> set_torch_threads(1)   # doctest: +SKIP
    """
    if threads:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


@contextmanager
def blas_threads(limit: int = 1) -> Iterator[None]:
    """Cap numpy's BLAS thread pool inside the block (threadpoolctl).

    Example:
        >>> with blas_threads(1):
        ...     pass
    """
    with _controller().limit(limits=limit, user_api="blas"):
        yield


@lru_cache(maxsize=1)
def _controller() -> Any:
    """One ThreadpoolController per process (building it scans the loaded libraries: slow)."""
    import numpy  # noqa: F401  (load numpy's BLAS before the scan)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
