"""Metric functions against hand-computed values; fast variants against scikit-learn."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from enrich.evaluate import generation as g
from enrich.evaluate import metrics as m
from enrich.evaluate.bootstrap import Estimate, bootstrap, format_estimate, paired_difference
from enrich.evaluate.retrieval import per_query


def test_roc_auc_counts_correctly_ordered_pairs() -> None:
    # pairs (bad, good): (.9,.6) ok, (.9,.1) ok, (.4,.6) wrong, (.4,.1) ok -> 3/4
    y, p = np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.6, 0.1])
    assert m.roc_auc(y, p) == 0.75 == m.fast_roc_auc(y, p)
    assert m.roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5  # a tie counts half
    assert math.isnan(m.roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_kappa_binary_and_quadratic_by_hand() -> None:
    # p_o = 3/4; p_e = .5*.75 + .5*.25 = .5; kappa = (.75 - .5) / .5
    assert m.cohen_kappa(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])) == 0.5
    # observed disagreement sum w*O = 1 (one 1->2); expected sum w*E = 8/3 + 1 + 4/3 = 5
    a, b = np.array([0, 1, 2]), np.array([0, 2, 2])
    assert m.cohen_kappa(a, b, "quadratic", [0, 1, 2]) == pytest.approx(0.8)
    assert m.fast_kappa(a, b, 3, "quadratic") == pytest.approx(0.8)


def test_spearman_brier_accuracy_by_hand() -> None:
    # ranks of y: 1, 3, 2; d = 0, -1, 1; rho = 1 - 6 * 2 / (3 * 8)
    assert m.spearman(np.array([1, 2, 3]), np.array([10, 30, 20])) == pytest.approx(0.5)
    assert m.fast_spearman(np.array([1, 2, 3]), np.array([10, 30, 20])) == pytest.approx(0.5)
    assert m.brier(np.array([1, 0]), np.array([0.75, 0.25])) == 0.0625
    assert m.fast_brier(np.array([1, 0]), np.array([0.75, 0.25])) == 0.0625
    assert m.accuracy(np.array(["a", "b"]), np.array(["a", "a"])) == 0.5
    assert math.isnan(m.spearman(np.array([1, 1, 1]), np.array([1, 2, 3])))


def test_reliability_bins_by_hand() -> None:
    y = np.array([1, 0, 1, 0, 1])
    p = np.array([0.9, 0.1, 0.8, 0.2, 0.15])
    frame = m.reliability_frame(y, p, bins=2)
    # bin [0, .5): .1 .2 .15 -> mean .15, bad 1 of 3; bin [.5, 1]: .9 .8 -> .85, 2 of 2
    assert frame["mean_predicted"].tolist() == pytest.approx([0.15, 0.85])
    assert frame["observed"].tolist() == pytest.approx([1 / 3, 1.0])
    assert frame["count"].tolist() == [3, 2]


def test_confusion_matrix_and_rating_classes() -> None:
    human = m.rating_classes(np.array([1.0, 1.67, 2.0, 2.33, 2.5, 3.0]), 2.0, 2.5)
    assert human.tolist() == ["bad", "bad", "partial", "partial", "good", "good"]
    predicted = np.array(["bad", "good", "partial", "good", "good", "good"])
    frame = m.confusion_frame(human, predicted).set_index(["human", "predicted"])["count"]
    assert frame[("bad", "bad")] == 1 and frame[("bad", "good")] == 1
    assert frame[("partial", "good")] == 1 and frame[("good", "good")] == 2
    assert frame.sum() == 6


def test_roc_curve_ends_at_one() -> None:
    frame = m.roc_curve_frame(np.array([1, 0, 1, 0]), np.array([0.8, 0.3, 0.4, 0.5]))
    assert frame["fpr"].iloc[-1] == 1.0 and frame["tpr"].iloc[-1] == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_fast_metrics_equal_scikit_learn_and_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.random(60), 1)  # rounded: ties on purpose
    a, b = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    assert m.fast_roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert m.fast_kappa(a, b, 3, "quadratic") == pytest.approx(
        skm.cohen_kappa_score(a, b, weights="quadratic"))
    assert m.fast_kappa(a, b, 3) == pytest.approx(skm.cohen_kappa_score(a, b))
    assert m.fast_brier(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    assert m.fast_spearman(p, a) == pytest.approx(stats.spearmanr(p, a).statistic)


def test_generation_rates_by_hand() -> None:
    rows = [["What is lift?", "what is  LIFT"], ["Heat flux on cones"], ["what is lift"]]
    dups, totals = g.duplicate_flags(rows)
    assert dups.tolist() == [1, 0, 1] and totals.tolist() == [2, 1, 1]
    assert g.ratio(dups, totals) == 0.5
    # bigrams: (what is)(is lift) | (what is)(is lift) | (heat flux)(flux on)(on cones) | 2 more
    novel, total = g.novel_ngrams(rows, 2)
    assert novel.tolist() == [2, 3, 0] and total.tolist() == [4, 3, 2]
    assert g.distinct_n(rows, 1) == (7, 13)  # what is lift heat flux on cones / 13 words
    assert g.texts_of({"queries": ["a", "b"], "n": 1}, "queries") == ["a", "b"]
    assert g.texts_of({"a": "x", "b": {"c": ["y"]}}, None) == ["x", "y"]
    assert g.mean_words(["one two", "three"]) == 1.5


def test_retrieval_metrics_by_hand() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 2, "d3": 1}, "q3": {"d9": 1}}
    run = {"q1": {"d1": 0.9, "d2": 0.5}, "q2": {"d3": 1.0, "d2": 0.5, "d7": 0.1},
           "q3": {"d4": 1.0, "d9": 0.5}}
    frame = per_query(qrels, run, ["ndcg@10", "recall@1", "mrr"]).set_index("query_id")
    # q2: DCG = 1/log2(2) + 2/log2(3); IDCG = 2/log2(2) + 1/log2(3)
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert frame.loc["q2", "ndcg@10"] == pytest.approx(expected)
    assert frame.loc["q1", "ndcg@10"] == pytest.approx(1.0)
    assert frame["recall@1"].tolist() == [1.0, 0.5, 0.0]
    assert frame["mrr"].tolist() == [1.0, 1.0, 0.5]


def test_retrieval_queries_missing_from_the_run_score_zero() -> None:
    frame = per_query({"q1": {"d1": 1}, "q2": {"d2": 1}}, {"q1": {"d1": 1.0}}, ["mrr"])
    assert frame["mrr"].tolist() == [1.0, 0.0]


def test_bootstrap_matches_scipy_percentile_interval() -> None:
    data = np.random.default_rng(3).normal(10, 2, 200)
    ours = bootstrap(np.mean, data, resamples=2000, seed=1)
    theirs = stats.bootstrap((data,), np.mean, n_resamples=2000, method="percentile",
                             random_state=1).confidence_interval
    assert ours.value == pytest.approx(data.mean())
    assert ours.low == pytest.approx(theirs.low, abs=0.06)
    assert ours.high == pytest.approx(theirs.high, abs=0.06)
    assert ours.n == 200 and ours.resamples == 2000


def test_bootstrap_is_seeded_and_resamples_groups() -> None:
    values = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    groups = ["a", "a", "a", "b", "b", "b"]
    one = bootstrap(np.mean, values, resamples=300, seed=7, groups=groups)
    two = bootstrap(np.mean, values, resamples=300, seed=7, groups=groups)
    assert one == two and one.n == 2
    # whole groups move together: every resample mean is 0, 0.5 or 1
    assert {one.low, one.high} <= {0.0, 0.5, 1.0}


def test_undefined_resamples_are_skipped_and_reported() -> None:
    y = np.array([1] + [0] * 9)
    p = np.linspace(0, 1, 10)
    est = bootstrap(m.fast_roc_auc, y, p, resamples=200, seed=0)
    assert 0 < est.resamples < 200  # resamples without the single bad row are undefined


def test_paired_difference_of_identical_systems_is_zero() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.2, 0.7, 0.4, 0.9, 0.6, 0.1])
    diff = paired_difference(m.fast_roc_auc, [y, p], [y, p], resamples=100)
    assert (diff.value, diff.low, diff.high) == (0.0, 0.0, 0.0)


def test_estimate_formatting_and_json_round_trip() -> None:
    est = Estimate(0.7123, 0.6111, 0.8034, 50)
    assert format_estimate(est) == "0.712 [0.611, 0.803]"
    assert format_estimate(Estimate(math.nan, math.nan, math.nan, 0)) == "n/a"
    assert format_estimate(Estimate(0.5, math.nan, math.nan, 3)) == "0.500"
    back = Estimate.from_dict(Estimate(0.5, math.nan, math.nan, 3).to_dict())
    assert back.value == 0.5 and math.isnan(back.low)
