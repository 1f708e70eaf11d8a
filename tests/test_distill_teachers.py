"""Teachers: graded relevance for (query, item) pairs (enrich.distill.teachers, llm_teacher)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.distill.llm_teacher import LLMTeacher, pair_key
from enrich.distill.teachers import (
    RRF_K,
    Bm25Scorer,
    Teacher,
    corpus_ranks,
    parse_teacher,
    top_standardised,
)
from enrich.errors import ConfigError

CORPUS = {"a": "shock waves in supersonic nozzles", "b": "heat transfer to a flat plate",
          "c": "buckling of thin cylindrical shells", "d": "shock interaction with a plate"}


class FixedScorer:
    """A corpus scorer with a fixed score matrix (one row per query, corpus order)."""

    def __init__(self, name: str, rows: dict[str, list[float]]):
        self.name = name
        self.rows = rows

    def corpus_scores(self, queries: list[str]) -> np.ndarray:
        return np.asarray([self.rows[q] for q in queries], dtype=np.float64)


class FixedPairs:
    """A pair scorer that looks scores up by (query, text)."""

    name = "ql"

    def __init__(self, scores: dict[tuple[str, str], float]):
        self.scores = scores

    def pair_scores(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        return np.asarray([self.scores.get(p, np.nan) for p in pairs], dtype=np.float64)


@pytest.mark.parametrize(("spec", "expected"), [
    ("bm25", ("single", ["bm25"])),
    ("rrf", ("rrf", ["bm25", "biencoder"])),
    ("zsum", ("zsum", ["bm25", "biencoder"])),
    ("zsum:biencoder,ql-pmi", ("zsum", ["biencoder", "ql-pmi"])),
])
def test_teacher_names_parse(spec: str, expected: tuple) -> None:
    assert parse_teacher(spec) == expected


@pytest.mark.parametrize("spec", ["", "bert", "rrf:bm25,gpt", "max:bm25", "bm25,biencoder"])
def test_unknown_teachers_are_refused_with_the_list(spec: str) -> None:
    with pytest.raises(ConfigError, match="unknown teacher") as info:
        parse_teacher(spec)
    assert "rrf" in info.value.hint


@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=40),
       st.data())
def test_corpus_rank_is_one_plus_the_items_scoring_higher(row: list[float], data) -> None:
    array = np.asarray(row)
    picked = np.asarray(data.draw(st.lists(st.sampled_from(row), min_size=1, max_size=5)))
    expected = [1 + int((array > v).sum()) for v in picked]
    assert corpus_ranks(array, picked).tolist() == expected


@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=30))
def test_standardising_keeps_the_order(row: list[float]) -> None:
    array = np.asarray(row)
    z = top_standardised(array, array, top=10)
    order = np.argsort(array, kind="stable")
    assert np.all(np.diff(z[order]) >= -1e-9)


def _teacher(method: str, pair: FixedPairs | None = None) -> Teacher:
    bm25 = FixedScorer("bm25", {"q": [3.0, 0.0, 1.0, 2.0]})
    dense = FixedScorer("biencoder", {"q": [0.9, 0.1, 0.3, 0.8]})
    return Teacher(method, method, CORPUS, [bm25, dense], [pair] if pair else [])


@settings(max_examples=30)
@given(st.permutations(["a", "b", "c", "d"]), st.integers(1, 4))
def test_a_pairs_rrf_score_does_not_depend_on_its_group(order: list[str], size: int) -> None:
    teacher = _teacher("rrf")
    whole = dict(zip(["a", "b", "c", "d"], teacher.score_groups([("q", ["a", "b", "c", "d"])])[0],
                     strict=True))
    group = order[:size]
    part = teacher.score_groups([("q", group)])[0]
    assert part.tolist() == pytest.approx([whole[i] for i in group])


def test_rrf_is_the_sum_of_reciprocal_corpus_ranks() -> None:
    scores = _teacher("rrf").score_groups([("q", ["a", "d", "b"])])[0]
    # a: rank 1 in both; d: 2 in both; b: 4 in both
    assert scores.tolist() == pytest.approx([2 / (RRF_K + 1), 2 / (RRF_K + 2), 2 / (RRF_K + 4)])


def test_an_item_ranked_higher_by_every_component_scores_higher() -> None:
    for method in ("rrf", "zsum"):
        scores = _teacher(method).score_groups([("q", ["a", "b", "c", "d"])])[0]
        assert list(np.argsort(-scores)) == [0, 3, 2, 1]


def test_unknown_items_are_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="not in its corpus"):
        _teacher("rrf").score_groups([("q", ["a", "zz"])])


def test_llm_part_ranks_within_the_group_and_missing_scores_rank_last() -> None:
    pairs = FixedPairs({("q", CORPUS["a"]): -1.0, ("q", CORPUS["b"]): -0.5})
    teacher = Teacher("rrf:ql", "rrf", CORPUS, [], [pairs])
    scores = teacher.score_groups([("q", ["a", "b", "c"])])[0]
    assert scores.tolist() == pytest.approx([1 / (RRF_K + 2), 1 / (RRF_K + 1), 1 / (RRF_K + 3)])


def test_bm25_scorer_agrees_with_the_bm25_retriever() -> None:
    from enrich.retrieval.bm25 import BM25Retriever

    texts = list(CORPUS.values())
    row = Bm25Scorer(texts).corpus_scores(["shock plate"])[0]
    hits = BM25Retriever(list(CORPUS), texts).search("shock plate", k=4)
    by_id = dict(zip(CORPUS, row, strict=True))
    assert {h.item_id: h.score for h in hits} == pytest.approx({h.item_id: by_id[h.item_id]
                                                                for h in hits})
    assert by_id["c"] == 0.0


def test_llm_teacher_reads_its_cache_without_loading_a_model(tmp_path: Path,
                                                            monkeypatch) -> None:
    cache = tmp_path / "llm.parquet"
    teacher = LLMTeacher("smollm2-135m", template="passage", cache=cache, show_progress=False)
    key = pair_key(teacher.model_name, teacher.template, "heat", "heat flux")
    pd.DataFrame({"key": [key], "ql": [-2.0], "ql_pmi": [0.7]}).to_parquet(cache)
    again = LLMTeacher("smollm2-135m", template="passage", cache=cache, show_progress=False)

    def no_model(asks: list) -> None:
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(again, "_score", no_model)
    assert again.component("ql").pair_scores([("heat", "heat flux")]).tolist() == [-2.0]
    assert again.component("ql-pmi").pair_scores([("heat", "heat flux")]).tolist() == [0.7]


def test_llm_teacher_scores_only_new_pairs_and_caches_them(tmp_path: Path) -> None:
    cache = tmp_path / "llm.parquet"
    teacher = LLMTeacher("smollm2-135m", cache=cache, show_progress=False)
    asked: list[list] = []

    def fake(asks: list) -> None:
        asked.append(asks)
        for key, query, item in asks:
            teacher._known[key] = (-float(len(query)), float(len(item)))
        teacher._write_cache()

    teacher._score = fake  # type: ignore[method-assign]
    pairs = [("ab", "xyz"), ("ab", "xyz"), ("abc", "x")]
    assert teacher.component("ql").pair_scores(pairs).tolist() == [-2.0, -2.0, -3.0]
    assert teacher.component("ql-pmi").pair_scores(pairs).tolist() == [3.0, 3.0, 1.0]
    assert len(asked) == 1 and len(asked[0]) == 2
    assert len(pd.read_parquet(cache)) == 2


def test_a_misspelt_teacher_fails_before_any_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from enrich.cli import app

    result = CliRunner().invoke(app, ["distill", "data", "--db", str(tmp_path / "none.duckdb"),
                                      "--out", str(tmp_path / "out"), "--teacher", "bert"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "unknown teacher `bert`" in str(result.exception)
    assert not (tmp_path / "out").exists()
