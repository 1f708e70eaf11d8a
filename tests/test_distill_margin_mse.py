"""GPL-style training data and losses: teacher margins for MarginMSE, teacher scores for MSE."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.distill.dataset import DistillDataset
from enrich.distill.teacher_scores import ConstantTeacher, add_teacher_scores
from enrich.errors import ConfigError

TOPICS = ["shock waves in nozzles", "heat transfer to plates", "buckling of shells",
          "flutter of wings", "boundary layer transition", "hypersonic re-entry heating"]


def negatives_frame(rows: list[tuple[str, str, str, float, float]], split: str = "train"
                    ) -> pd.DataFrame:
    return pd.DataFrame([{"query": q, "positive_id": p, "positive": f"text {p}",
                          "negative_id": n, "negative": f"text {n}", "positive_score": ps,
                          "negative_score": ns, "negative_rank": 1, "split": split}
                         for q, p, n, ps, ns in rows])


@settings(max_examples=40)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(0, 1),
                          st.floats(0, 1)), min_size=1, max_size=12))
def test_margins_keep_the_teachers_sign_and_take_the_base_scale(values) -> None:
    rows, scores = [], {}
    for n, (tp, tn, ps, ns) in enumerate(values):
        scores[f"p{n}"], scores[f"n{n}"] = tp, tn
        rows.append((f"q{n}", f"p{n}", f"n{n}", ps, ns))
    scored, facts = add_teacher_scores(negatives_frame(rows), ConstantTeacher(scores))
    raw = scored["teacher_positive"] - scored["teacher_negative"]
    assert facts["margin_scale"] > 0
    assert np.array_equal(np.sign(scored["teacher_margin"]), np.sign(raw))
    assert facts["inverted"] == int((raw < 0).sum())
    base = scored["positive_score"] - scored["negative_score"]
    if raw.std(ddof=0) > 1e-9 and base.std(ddof=0) > 1e-9:
        assert scored["teacher_margin"].std(ddof=0) == pytest.approx(base.std(ddof=0), rel=1e-4)


def test_each_item_is_graded_once_per_group_and_shared_positives_agree() -> None:
    calls: list[list] = []

    class Counting(ConstantTeacher):
        def score_groups(self, groups):
            calls.append(groups)
            return super().score_groups(groups)

    frame = negatives_frame([("q", "a", "b", 0.9, 0.5), ("q", "a", "c", 0.9, 0.4)])
    scored, _ = add_teacher_scores(frame, Counting({"a": 1.0, "b": 3.0, "c": 0.0}))
    assert calls == [[("q", ["a", "b", "c"])]]
    assert scored["teacher_positive"].tolist() == [1.0, 1.0]
    assert (scored["teacher_margin"] < 0).tolist() == [True, False]


def write_data(folder: Path, teacher: bool = True) -> Path:
    """A small distillation data folder: 6 topics, a positive and 2 negatives each."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = pd.DataFrame({"item_id": [f"i{n}" for n in range(len(TOPICS))],
                           "text": [f"a study of {t}" for t in TOPICS]})
    pairs, negatives = [], []
    for n, topic in enumerate(TOPICS):
        split = "dev" if n >= 4 else "train"
        query = f"what is known about {topic}?"
        pairs.append({"query": query, "item_id": f"i{n}", "item_text": corpus.text[n],
                      "run_id": "r", "split": split})
        for rank, other in enumerate([(n + 1) % 6, (n + 2) % 6], start=1):
            negatives.append({"query": query, "positive_id": f"i{n}",
                              "positive": corpus.text[n], "negative_id": f"i{other}",
                              "negative": corpus.text[other], "positive_score": 0.7,
                              "negative_score": 0.5 - 0.1 * rank, "negative_rank": rank,
                              "split": split, "teacher_positive": 2.0,
                              "teacher_negative": 2.0 - rank, "teacher_margin": 0.1 * rank})
    frame = pd.DataFrame(negatives)
    if not teacher:
        frame = frame.drop(columns=["teacher_positive", "teacher_negative", "teacher_margin"])
    pd.DataFrame(pairs).to_parquet(folder / "pairs.parquet")
    frame.to_parquet(folder / "negatives.parquet")
    corpus.to_parquet(folder / "corpus.parquet")
    (folder / "manifest.json").write_text(json.dumps({"sources": {}, "counts": {}}))
    return folder


def test_teacher_triplets_and_pairs_have_the_loss_columns(tmp_path: Path) -> None:
    data = DistillDataset(write_data(tmp_path / "data"))
    assert data.has_teacher()
    triplets = data.teacher_triplets("train", num_negatives=0)
    assert triplets.column_names == ["query", "positive", "negative", "label"]
    assert len(triplets) == 8 and sorted(set(triplets["label"])) == pytest.approx([0.1, 0.2])
    assert len(data.teacher_triplets("train", num_negatives=1)) == 4
    pairs = data.teacher_pairs("train", num_negatives=2)
    assert pairs.column_names == ["query", "document", "label"]
    assert len(pairs) == 4 + 8  # each positive once, every negative
    labels = np.asarray(pairs["label"])
    assert abs(labels.mean()) < 1e-9 and labels.std() == pytest.approx(1.0)
    assert labels[:4].min() > labels[4:].max()  # positives graded above every negative here


def test_teacher_losses_need_teacher_scores(tmp_path: Path) -> None:
    data = DistillDataset(write_data(tmp_path / "data", teacher=False))
    assert not data.has_teacher()
    with pytest.raises(ConfigError, match="no teacher scores") as info:
        data.teacher_triplets("train")
    assert "--teacher" in info.value.hint


def test_cross_encoder_margins_are_rescaled_to_unit_spread() -> None:
    from datasets import Dataset

    from enrich.distill.crossencoder import standardised_margins

    triplets = Dataset.from_dict({"query": ["q", "q"], "positive": ["a", "a"],
                                  "negative": ["b", "c"], "label": [0.1, -0.3]})
    labels = np.asarray(standardised_margins(triplets)["label"])
    assert np.sqrt(np.mean(labels ** 2)) == pytest.approx(1.0)
    assert np.sign(labels).tolist() == [1.0, -1.0]


@pytest.mark.slow
def test_margin_mse_bi_encoder_trains_and_its_card_carries_the_verdict(tmp_path: Path) -> None:
    from enrich.distill.biencoder import BiEncoderConfig, BiEncoderDistiller

    data = write_data(tmp_path / "data")
    config = BiEncoderConfig(data=data, out=tmp_path / "bi", loss="margin-mse", batch_size=4,
                             max_steps=2, num_negatives=2, max_seq_length=32,
                             gate_resamples=50, show_progress=False)
    report = BiEncoderDistiller(config).run()
    assert report["training"]["steps"] == 2
    assert report["gate"]["verdict"] in ("better", "not better", "worse")
    assert report["gate"]["results"][0]["heldout"] == "synthetic dev"
    card = (tmp_path / "bi" / "README.md").read_text(encoding="utf-8")
    assert "Gain gate: **" in card and "synthetic dev (2 queries)" in card
    facts = json.loads((tmp_path / "bi" / "enrich_distill.json").read_text(encoding="utf-8"))
    assert facts["gate"]["verdict"] == report["gate"]["verdict"]


@pytest.mark.slow
def test_mse_cross_encoder_trains_on_teacher_scores_and_records_a_blend(tmp_path: Path) -> None:
    from enrich.distill.crossencoder import CrossEncoderConfig, CrossEncoderDistiller

    data = write_data(tmp_path / "data")
    config = CrossEncoderConfig(data=data, out=tmp_path / "ce", loss="mse", batch_size=4,
                                max_steps=2, num_negatives=2, max_length=48, layers=1,
                                gate_depth=4, gate_resamples=50, show_progress=False)
    report = CrossEncoderDistiller(config).run()
    assert report["train_rows"]["labeled"] == 4 + 8  # train split: 4 positives, 8 negatives
    assert report["gate"]["best_blend"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    from enrich.distill.gate import recommended_blend

    assert recommended_blend(tmp_path / "ce") == report["gate"]["best_blend"]
