"""The gain gate: base vs distilled on held-out queries, verdicts, warnings, blends."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrich.distill.gate import (
    BLENDS,
    HeldOut,
    compare,
    describe,
    gate_reranker,
    gate_sets,
    human_heldout,
    recommended_blend,
    serving_warning,
    verdict_of,
)
from enrich.errors import ConfigError
from enrich.evaluate.bootstrap import Estimate

CORPUS = {f"d{i}": f"document number {i}" for i in range(8)}
QUERIES = {f"q{i}": f"query {i}" for i in range(6)}
QRELS = {f"q{i}": {f"d{i}": 1} for i in range(6)}


@given(st.floats(-1, 1), st.floats(0, 0.5), st.floats(0, 0.5))
def test_verdict_follows_the_interval(value: float, below: float, above: float) -> None:
    est = Estimate(value, value - below, value + above, 100)
    verdict = verdict_of(est)
    assert (verdict == "better") == (value - below > 0)
    assert (verdict == "worse") == (value < 0 and not value - below > 0)


def test_verdict_without_an_interval_is_never_better() -> None:
    assert verdict_of(Estimate(0.1, float("nan"), float("nan"), 3)) == "not better"


def _run(order: dict[str, list[str]]) -> dict:
    return {q: {d: float(len(docs) - n) for n, d in enumerate(docs)} for q, docs in order.items()}


def test_same_run_gains_nothing_and_a_perfect_run_is_better() -> None:
    held = HeldOut("synthetic dev", QUERIES, CORPUS, QRELS)
    worst = _run({q: [d for d in CORPUS if d != f"d{q[1:]}"] + [f"d{q[1:]}"] for q in QUERIES})
    best = _run({q: [f"d{q[1:]}"] + [d for d in CORPUS if d != f"d{q[1:]}"] for q in QUERIES})
    same = compare(held, worst, worst, resamples=200)
    assert same["gain"]["value"] == 0.0 and same["verdict"] == "not better"
    better = compare(held, worst, best, resamples=200)
    assert better["verdict"] == "better" and better["gain"]["low"] > 0
    assert compare(held, best, worst, resamples=200)["verdict"] == "worse"


class FakeBiEncoder:
    """Puts query i nearer document i + 1 than document i: a first stage with room to gain."""

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(8)
        v[int(text.split()[-1]) % 8] = 1.0
        v[(int(text.split()[-1]) + 1) % 8] = 1.1 if "query" in text else 0.0
        return v / np.linalg.norm(v)

    def encode_document(self, texts, **_) -> np.ndarray:
        return np.asarray([self._vec(t) for t in texts])

    def encode_query(self, texts, **_) -> np.ndarray:
        return np.asarray([self._vec(t) for t in texts])


class FakeCrossEncoder:
    """Scores 1 when query i meets document i (``good``) or the opposite (``bad``)."""

    def __init__(self, good: bool):
        self.good = good

    def predict(self, pairs, **_) -> np.ndarray:
        hits = [float(q.split()[-1] == d.split()[-1]) for q, d in pairs]
        return np.asarray(hits if self.good else [1.0 - h for h in hits], dtype=np.float32)


def _held(name: str) -> HeldOut:
    return HeldOut(name, QUERIES, CORPUS, QRELS)


def test_a_good_reranker_passes_and_a_bad_one_is_kept_out_by_the_blend() -> None:
    good = gate_reranker(FakeCrossEncoder(True), FakeBiEncoder(), [_held("synthetic dev")],
                         depth=4, resamples=100)
    assert good["best_blend"] > 0 and good["results"][0]["distilled"]["value"] == 1.0
    bad = gate_reranker(FakeCrossEncoder(False), FakeBiEncoder(),
                        [_held("synthetic dev"), _held("human")], depth=4, resamples=100)
    assert bad["best_blend"] == 0.0
    assert set(bad["blends"]) == {str(w) for w in BLENDS}
    # with the first stage's order kept, the pipeline is never below its first stage
    for result in bad["results"]:
        assert result["gain"]["value"] == 0.0
    assert bad["decided_on"] == "human" and bad["verdict"] == "not better"
    assert any("NOT better" in line for line in describe(bad))


def _card(folder: Path, gate: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "enrich_distill.json").write_text(json.dumps({"gate": gate}), encoding="utf-8")
    return folder


def test_serving_warns_only_for_a_model_worse_than_its_base(tmp_path: Path) -> None:
    result = {"heldout": "human", "queries": 150, "metric": "ndcg@10",
              "base": Estimate(0.36, 0.32, 0.40, 150).to_dict(),
              "distilled": Estimate(0.35, 0.31, 0.39, 150).to_dict(),
              "gain": Estimate(-0.01, -0.02, 0.0, 150).to_dict(), "verdict": "worse"}
    worse = _card(tmp_path / "worse", {"verdict": "worse", "decided_on": "human",
                                       "base": "base bi-encoder", "results": [result]})
    message = serving_warning(worse)
    assert message is not None and "worse than base bi-encoder" in message
    assert "-0.010" in message and "\n" not in message
    better = _card(tmp_path / "better", {"verdict": "better", "results": []})
    assert serving_warning(better) is None
    assert serving_warning(tmp_path / "no-card") is None
    assert serving_warning("all-MiniLM-L6-v2") is None


def test_recommended_blend_comes_from_the_card(tmp_path: Path) -> None:
    from enrich.retrieval.pipeline import Pipeline

    card = _card(tmp_path / "ce", {"verdict": "better", "best_blend": 0.25, "results": []})
    assert recommended_blend(card) == 0.25
    assert Pipeline.offered_blend(str(card)) == 0.25
    assert recommended_blend(_card(tmp_path / "old", {})) is None


def test_human_heldout_reads_files_and_needs_the_queries(tmp_path: Path) -> None:
    (tmp_path / "qrels.tsv").write_text("query_id\tdoc_id\tgain\n1\td1\t3\n2\td9\t1\n",
                                        encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text('{"query_id": "1", "text": "heat flux"}\n',
                                            encoding="utf-8")
    (tmp_path / "corpus.jsonl").write_text('{"item_id": "d1", "text": "heat"}\n',
                                           encoding="utf-8")
    held = human_heldout(tmp_path / "qrels.tsv", tmp_path / "queries.jsonl",
                         tmp_path / "corpus.jsonl")
    assert held.queries == {"1": "heat flux"} and held.qrels == {"1": {"d1": 3}}

    class Config:
        eval_qrels, eval_queries, eval_corpus = tmp_path / "qrels.tsv", None, None

    class NoData:
        def frame(self, *_):
            import pandas as pd

            return pd.DataFrame()

    with pytest.raises(ConfigError, match="--eval-queries"):
        gate_sets(Config(), NoData())


def test_blend_option_accepts_auto_and_weights_only() -> None:
    from enrich.commands.index import _blend_value

    assert _blend_value("auto") == "auto" and _blend_value("0.25") == 0.25
    assert _blend_value(None) is None
    for wrong in ("1.5", "half", "-0.1"):
        with pytest.raises(ConfigError, match="between 0 and 1"):
            _blend_value(wrong)


@pytest.mark.slow
def test_fast_query_path_gives_the_same_vectors_as_encode_query() -> None:
    from enrich.retrieval.encoder import fast_query_encoder, load_bi_encoder

    model, _ = load_bi_encoder(None)
    fast = fast_query_encoder(model)
    assert fast is not None
    texts = ["cordless drill", "what similarity laws must be obeyed by aeroelastic models", "a"]
    slow = model.encode_query(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.abs(fast(texts) - slow).max() < 1e-4
    assert fast_query_encoder(object()) is None


@pytest.mark.slow
def test_reranking_batches_side_by_side_gives_the_same_scores() -> None:
    from enrich.retrieval.compact import keep_layers
    from enrich.retrieval.encoder import load_cross_encoder
    from enrich.retrieval.reranker import Reranker

    model = keep_layers(load_cross_encoder(None, 64)[0], 1)
    texts = [f"item {i} " + "word " * (i % 7) for i in range(37)]
    one = Reranker(model, batch_size=8).score("query words", texts)
    side = Reranker(model, batch_size=8, workers=3).score("query words", texts)
    assert np.abs(one - side).max() < 1e-5 and len(side) == 37
