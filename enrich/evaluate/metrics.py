"""Agreement of LLM labels with human labels (scikit-learn and scipy underneath).

Conventions: ``is_bad`` is the human binary label (True = bad match), ``p_bad`` the model's
probability that the pair is bad, ``rating`` the mean human rating (higher = more relevant),
and ordinal classes are listed worst first (``bad, partial, good``).

Example:
    >>> import numpy as np
    >>> roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.6, 0.1]))
    0.75
"""

import math

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from enrich.evaluate import auc

CLASSES = ("bad", "partial", "good")


def roc_auc(is_bad: np.ndarray, p_bad: np.ndarray) -> float:
    """ROC AUC of ``p_bad`` for the human ``is_bad`` label (NaN when only one class is present);
    :func:`enrich.evaluate.auc.roc_auc`, the one implementation, also used in bootstrap loops.

    Example:
        >>> roc_auc(np.array([1, 0]), np.array([0.8, 0.2]))
        1.0
    """
    return auc.roc_auc(is_bad, p_bad)


def roc_curve_frame(is_bad: np.ndarray, p_bad: np.ndarray) -> pd.DataFrame:
    """False/true positive rates at every threshold (columns ``fpr, tpr, threshold``).

    Example:
        >>> roc_curve_frame(np.array([1, 0]), np.array([0.8, 0.2])).shape[1]
        3
    """
    y = np.asarray(is_bad, dtype=bool)
    if y.all() or not y.any():
        return pd.DataFrame({"fpr": [], "tpr": [], "threshold": []})
    fpr, tpr, thresholds = skm.roc_curve(y, np.asarray(p_bad, dtype=float))
    return pd.DataFrame({"fpr": fpr, "tpr": tpr,
                         "threshold": np.minimum(thresholds, 1.0)})


def cohen_kappa(a: np.ndarray, b: np.ndarray, weights: str | None = None,
                labels: list | None = None) -> float:
    """Cohen's κ between two labelings (``weights="quadratic"`` for ordinal classes).

    Example:
        >>> cohen_kappa(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
        0.5
    """
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return math.nan
    value = skm.cohen_kappa_score(a, b, weights=weights, labels=labels)
    return float(value) if np.isfinite(value) else math.nan


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ (NaN when either side is constant).

    Example:
        >>> spearman(np.array([1, 2, 3]), np.array([10, 30, 20]))
        0.5
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def brier(is_bad: np.ndarray, p_bad: np.ndarray) -> float:
    """Brier score: mean squared error of ``p_bad`` against 0/1 (lower is better).

    Example:
        >>> brier(np.array([1, 0]), np.array([0.75, 0.25]))
        0.0625
    """
    y = np.asarray(is_bad, dtype=int)
    if len(y) == 0:
        return math.nan
    return float(skm.brier_score_loss(y, np.asarray(p_bad, dtype=float), pos_label=1))


def accuracy(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows where two labelings agree."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.mean(a == b)) if len(a) else math.nan


def reliability_frame(is_bad: np.ndarray, p_bad: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability diagram data: per bin of ``p_bad``, its mean and the observed bad rate.

    Columns ``mean_predicted, observed, count`` (empty bins are left out).

    Example:
        >>> frame = reliability_frame(np.array([1, 0, 1, 0]), np.array([.9, .1, .8, .2]), 2)
        >>> frame.observed.tolist()
        [0.0, 1.0]
    """
    y = np.asarray(is_bad, dtype=int)
    p = np.clip(np.asarray(p_bad, dtype=float), 0.0, 1.0)
    if len(y) == 0 or y.min() == y.max():
        return pd.DataFrame({"mean_predicted": [], "observed": [], "count": []})
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=bins)  # sklearn's bins
    return pd.DataFrame({"mean_predicted": predicted, "observed": observed,
                         "count": counts[counts > 0]})


def confusion_frame(human: np.ndarray, predicted: np.ndarray,
                    classes: tuple[str, ...] = CLASSES) -> pd.DataFrame:
    """Confusion matrix as a long table: ``human, predicted, count`` for every class pair.

    Example:
        >>> f = confusion_frame(np.array(["bad", "good"]), np.array(["bad", "bad"]))
        >>> int(f.query("human == 'good' and predicted == 'bad'")["count"].iloc[0])
        1
    """
    matrix = skm.confusion_matrix(np.asarray(human, dtype=str), np.asarray(predicted, dtype=str),
                                  labels=list(classes))
    return pd.DataFrame([{"human": h, "predicted": p, "count": int(matrix[i, j])}
                         for i, h in enumerate(classes) for j, p in enumerate(classes)])


# -- fast equivalents for bootstrap loops (thousands of calls; checked against the above in tests)
fast_roc_auc = roc_auc  # (one implementation: rank-based, already fast; the old name stays)


def fast_kappa(a: np.ndarray, b: np.ndarray, n_classes: int = 2,
               weights: str | None = None) -> float:
    """Cohen's κ for integer labels ``0..n_classes-1`` (equals :func:`cohen_kappa`; labels
    outside the range are ignored, as scikit-learn does with ``labels=``).

    Example:
        >>> fast_kappa(np.array([0, 1, 2]), np.array([0, 2, 2]), 3, "quadratic")
        0.8
    """
    a, b = np.asarray(a, dtype=int), np.asarray(b, dtype=int)
    keep = (a >= 0) & (a < n_classes) & (b >= 0) & (b < n_classes)
    if not keep.any():
        return math.nan
    observed = np.bincount(a[keep] * n_classes + b[keep],
                           minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    grid = np.arange(n_classes)
    if weights == "quadratic":
        w = (grid[:, None] - grid[None, :]) ** 2
    elif weights == "linear":
        w = np.abs(grid[:, None] - grid[None, :])
    else:
        w = (grid[:, None] != grid[None, :]).astype(float)
    denominator = float((w * expected).sum())
    return 1.0 - float((w * observed).sum()) / denominator if denominator else math.nan


def fast_brier(is_bad: np.ndarray, p_bad: np.ndarray) -> float:
    """Brier score with numpy (equals :func:`brier`)."""
    y = np.asarray(is_bad, dtype=float)
    return float(np.mean((np.asarray(p_bad, dtype=float) - y) ** 2)) if len(y) else math.nan


def fast_spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ as the Pearson correlation of average ranks (equals :func:`spearman`)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3:
        return math.nan
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    sx, sy = rx.std(), ry.std()
    if sx == 0 or sy == 0:
        return math.nan
    return float(np.mean((rx - rx.mean()) * (ry - ry.mean())) / (sx * sy))


def rating_classes(rating: np.ndarray, bad_below: float, good_from: float,
                   classes: tuple[str, ...] = CLASSES) -> np.ndarray:
    """Map mean ratings to ordinal classes: < bad_below → worst, ≥ good_from → best.

    Example:
        >>> rating_classes(np.array([1.0, 2.33, 3.0]), 2.0, 2.5).tolist()
        ['bad', 'partial', 'good']
    """
    r = np.asarray(rating, dtype=float)
    index = np.where(r < bad_below, 0, np.where(r >= good_from, 2, 1))
    return np.asarray(classes, dtype=object)[index]


def class_index(labels: np.ndarray, classes: tuple[str, ...] = CLASSES) -> np.ndarray:
    """Ordinal position of each label in ``classes`` (−1 for an unknown label)."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.asarray([lookup.get(str(v), -1) for v in labels], dtype=int)
