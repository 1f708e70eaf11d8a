"""One ROC AUC (``enrich.evaluate.auc``) behind ``enrich eval``, the dashboard and
``enrich tasks summary``: checked against a brute-force count of ordered pairs, with ties."""

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.evaluate.auc import roc_auc

# few distinct scores, so ties (within and across classes) are common
ROWS = st.lists(st.tuples(st.booleans(), st.integers(0, 6).map(lambda v: v / 4)),
                min_size=0, max_size=60)


def brute_force_auc(labels: list[bool], scores: list[float]) -> float:
    """Share of (positive, negative) pairs ordered correctly; a tie counts half."""
    pos = [s for s, label in zip(scores, labels, strict=True) if label]
    neg = [s for s, label in zip(scores, labels, strict=True) if not label]
    if not pos or not neg:
        return math.nan
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@settings(max_examples=300, deadline=None)
@given(ROWS)
def test_auc_equals_the_pairwise_count(rows: list[tuple[bool, float]]) -> None:
    labels, scores = [r[0] for r in rows], [r[1] for r in rows]
    expected = brute_force_auc(labels, scores)
    got = roc_auc(labels, scores)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == expected  # exact: both are sums of halves over the same pair count


@settings(max_examples=100, deadline=None)
@given(ROWS)
def test_every_caller_gives_the_same_auc(rows: list[tuple[bool, float]]) -> None:
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from enrich.evaluate import metrics
    from enrich.tasks.report import roc_auc as report_auc

    labels, scores = [r[0] for r in rows], [r[1] for r in rows]
    expected = brute_force_auc(labels, scores)
    from_arrays = metrics.roc_auc(np.array(labels), np.array(scores))
    from_report = report_auc(scores, labels)
    if math.isnan(expected):
        assert math.isnan(from_arrays) and from_report is None
    else:
        assert from_arrays == from_report == expected
        assert metrics.fast_roc_auc(np.array(labels), np.array(scores)) == expected


def test_auc_matches_scikit_learn_on_random_data_with_ties() -> None:
    np = pytest.importorskip("numpy")
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for n in (2, 10, 500):
        y = rng.random(n) < 0.3
        y[0], y[1] = True, False
        p = np.round(rng.random(n), 1)
        assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def test_auc_accepts_arrays_series_and_lists_and_refuses_bad_input() -> None:
    pd = pytest.importorskip("pandas")
    labels, scores = [1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1]
    assert roc_auc(labels, scores) == 0.75
    assert roc_auc(pd.Series(labels, dtype=bool), pd.Series(scores)) == 0.75
    assert roc_auc(iter(labels), (s for s in scores)) == 0.75
    assert math.isnan(roc_auc([1, 0], [0.3, math.nan]))  # undefined, not a number
    assert math.isnan(roc_auc([], []))
    with pytest.raises(ValueError, match="3 labels but 2 scores"):
        roc_auc([1, 0, 1], [0.1, 0.2])


def test_auc_and_the_tasks_summary_need_neither_numpy_nor_scipy() -> None:
    """A base install has neither: import them with both refused."""
    code = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'numpy', 'scipy', 'sklearn', 'pandas'}:\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "from enrich.evaluate.auc import roc_auc\n"
        "from enrich.tasks.report import roc_auc as report_auc\n"
        "print(roc_auc([1, 0, 0], [0.5, 0.5, 0.1]), report_auc([0.5, 0.5, 0.1], [1, 0, 0]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0.75", "0.75"]
