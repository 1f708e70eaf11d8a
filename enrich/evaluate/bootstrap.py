"""Bootstrap confidence intervals for any metric, and for the difference of two paired metrics.

Rows (or groups of rows, e.g. every pair of one query) are resampled with replacement; the
metric is recomputed on each resample and the percentile interval reported. Resamples where a
metric is undefined (ROC AUC of a resample holding one class only) are skipped and counted.

Example:
    >>> import numpy as np
    >>> est = bootstrap(np.mean, np.array([0.0, 1.0, 1.0, 1.0]), resamples=200, seed=1)
    >>> round(est.value, 2), est.low <= est.value <= est.high
    (0.75, True)
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Statistic = Callable[..., float]
Groups = Sequence[Any] | np.ndarray  # a group label per row


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap percentile interval.

    Attributes:
        value: the metric on all rows.
        low / high: interval bounds (NaN when too few resamples were defined).
        n: rows (or groups) the metric was computed on.
        level: confidence level of the interval, e.g. 0.95.
        resamples: resamples in which the metric was defined.
    """

    value: float
    low: float
    high: float
    n: int
    level: float = 0.95
    resamples: int = 0

    def __str__(self) -> str:
        return format_estimate(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Estimate":
        get = data.get
        return cls(_num(get("value")), _num(get("low")), _num(get("high")), int(get("n") or 0),
                   float(get("level") or 0.95), int(get("resamples") or 0))


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def format_estimate(est: Estimate, digits: int = 3) -> str:
    """``0.712 [0.611, 0.803]``, or ``n/a`` when the metric is undefined."""
    if math.isnan(est.value):
        return "n/a"
    if math.isnan(est.low):
        return f"{est.value:.{digits}f}"
    return f"{est.value:.{digits}f} [{est.low:.{digits}f}, {est.high:.{digits}f}]"


def _resample_indices(n: int, groups: Groups | None, resamples: int,
                      rng: np.random.Generator) -> list[np.ndarray]:
    if groups is None:
        return list(rng.integers(0, n, size=(resamples, n)))
    codes, members = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    by_group = [np.flatnonzero(members == g) for g in range(len(codes))]
    picks = rng.integers(0, len(by_group), size=(resamples, len(by_group)))
    return [np.concatenate([by_group[g] for g in row]) for row in picks]


def _safe(statistic: Statistic, arrays: Sequence[np.ndarray], idx: np.ndarray | None) -> float:
    try:
        with np.errstate(all="ignore"):
            value = statistic(*(a if idx is None else a[idx] for a in arrays))
    except ValueError:
        return math.nan
    return float(value) if value is not None else math.nan


def _interval(values: list[float], level: float) -> tuple[float, float, int]:
    defined = np.asarray([v for v in values if not math.isnan(v)])
    if len(defined) < max(10, len(values) // 2):
        return math.nan, math.nan, len(defined)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(defined, [alpha, 1.0 - alpha])
    return float(low), float(high), len(defined)


def bootstrap(statistic: Statistic, *arrays: np.ndarray, resamples: int = 1000,
              level: float = 0.95, seed: int = 0, groups: Groups | None = None
              ) -> Estimate:
    """A metric with its percentile bootstrap interval.

    Args:
        statistic: ``f(*arrays) -> float`` (may raise ValueError or return NaN if undefined).
        arrays: equal-length arrays, resampled together (paired rows).
        resamples: number of bootstrap resamples (0: no interval).
        level: confidence level.
        seed: random seed (same seed, same interval).
        groups: resample whole groups (e.g. query ids) instead of single rows.

    Returns:
        The :class:`Estimate`.
    """
    arrays_np = [np.asarray(a) for a in arrays]
    n = len(arrays_np[0]) if arrays_np else 0
    value = _safe(statistic, arrays_np, None) if n else math.nan
    n_units = len(set(groups)) if groups is not None else n
    if n == 0 or resamples <= 0:
        return Estimate(value, math.nan, math.nan, n_units, level, 0)
    rng = np.random.default_rng(seed)
    values = [_safe(statistic, arrays_np, idx)
              for idx in _resample_indices(n, groups, resamples, rng)]
    low, high, used = _interval(values, level)
    return Estimate(value, low, high, n_units, level, used)


def paired_difference(statistic: Statistic, a: Sequence[np.ndarray], b: Sequence[np.ndarray],
                      resamples: int = 1000, level: float = 0.95, seed: int = 0,
                      groups: Groups | None = None) -> Estimate:
    """``statistic(*b) − statistic(*a)`` on the same rows, with a paired bootstrap interval.

    Both sides are resampled with the same indices, so row-level noise shared by A and B
    cancels out. An interval that excludes 0 means B differs from A at that level.

    Example:
        >>> y = np.array([0, 0, 1, 1]); a = np.array([.5, .5, .5, .5]); b = np.array([0, .1, .9, 1])
        >>> from sklearn.metrics import roc_auc_score
        >>> paired_difference(roc_auc_score, [y, a], [y, b], resamples=0).value
        0.5
    """
    a_np, b_np = [np.asarray(x) for x in a], [np.asarray(x) for x in b]
    both = [*a_np, *b_np]
    k = len(a_np)

    def diff(*arrays: np.ndarray) -> float:
        return statistic(*arrays[k:]) - statistic(*arrays[:k])

    return bootstrap(diff, *both, resamples=resamples, level=level, seed=seed, groups=groups)
