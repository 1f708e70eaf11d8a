"""A tiny bi-encoder and cross-encoder training run (a few steps on the fixture store)."""

import json
from pathlib import Path

import numpy as np
import pytest
from distill_fixtures import make_store
from typer.testing import CliRunner

from enrich.cli import app
from enrich.distill import (
    BiEncoderConfig,
    BiEncoderDistiller,
    CrossEncoderConfig,
    CrossEncoderDistiller,
)

pytestmark = pytest.mark.slow
QUERIES = ["cordless drill", "non slip bath mat"]
DOCS = ["Cordless drill with two lithium batteries", "Memory foam bath mat, non-slip"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("train")
    db = make_store(folder / "store.duckdb")
    result = CliRunner().invoke(app, ["distill", "data", "--db", str(db), "--out",
                                      str(folder / "data"), "--dev-fraction", "0.3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "source runs: run-sq" in result.output
    return folder / "data"


def test_bi_encoder_trains_saves_and_loads(data: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from enrich.distill.base_model import minilm_path

    out = tmp_path / "bi"
    config = BiEncoderConfig(data=data, out=out, max_steps=3, batch_size=4, learning_rate=5e-4,
                             max_seq_length=32, show_progress=False)
    report = BiEncoderDistiller(config).run()
    assert set(report["train_rows"]) == {"synthetic", "teacher", "users"}
    assert "ndcg@10" in report["before"] and "ndcg@10" in report["after"]
    base = SentenceTransformer(str(minilm_path()), device="cpu").encode(QUERIES + DOCS)
    trained = SentenceTransformer(str(out), device="cpu").encode(QUERIES + DOCS)
    assert trained.shape == base.shape and not np.allclose(trained, base, atol=1e-4)
    facts = json.loads((out / "enrich_distill.json").read_text())
    assert facts["data_manifest"]["sources"]["synthetic_queries"][0]["run_id"] == "run-sq"
    card = (out / "README.md").read_text()
    assert "## enrich distillation (bi-encoder)" in card and "run-sq" in card


def test_cross_encoder_trains_saves_and_loads(data: Path, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    out = tmp_path / "ce"
    config = CrossEncoderConfig(data=data, out=out, max_steps=3, batch_size=4,
                                learning_rate=5e-4, max_length=48, show_progress=False)
    report = CrossEncoderDistiller(config).run()
    assert report["train_rows"]["labeled"] > 0 and "ndcg@10" in report["after"]
    pairs = list(zip(QUERIES, DOCS, strict=True)) + [(QUERIES[0], DOCS[1])]
    first = CrossEncoder(str(out), device="cpu").predict(pairs)
    config2 = config.model_copy(update={"out": tmp_path / "ce2", "max_steps": 6})
    CrossEncoderDistiller(config2).run()
    second = CrossEncoder(str(tmp_path / "ce2"), device="cpu").predict(pairs)
    assert first.shape == (3,) and ((0 < first) & (first < 1)).all()
    assert not np.allclose(first, second, atol=1e-5)
    assert "## enrich distillation (cross-encoder)" in (out / "README.md").read_text()


def _separation(model_dir: str, pairs: list[tuple[str, str]], labels: list[float]) -> float:
    """Mean logit of the positives minus mean logit of the negatives."""
    import torch
    from sentence_transformers import CrossEncoder

    scores = CrossEncoder(model_dir, device="cpu", local_files_only=True).predict(
        pairs, activation_fn=torch.nn.Identity())
    pos = [s for s, y in zip(scores, labels, strict=True) if y >= 0.5]
    neg = [s for s, y in zip(scores, labels, strict=True) if y < 0.5]
    return float(np.mean(pos) - np.mean(neg))


def test_cross_encoder_learns_at_default_rates(data: Path, tmp_path: Path) -> None:
    """Regression: a fresh head on MiniLM's near-constant pooler features, at the encoder's
    2e-5, stayed at loss ln 2 (0.693) on balanced labels; with ``head_learning_rate=None`` (the
    old behaviour) this run's loss does not fall. A head rate of 1e-3 makes 12 steps learn."""
    from enrich.distill.dataset import DistillDataset

    train = DistillDataset(data).labeled_pairs("train", num_negatives=1)
    pairs = list(zip(train["query"], train["document"], strict=True))
    config = CrossEncoderConfig(data=data, out=tmp_path / "ce", num_negatives=1, max_steps=12,
                                batch_size=8, max_length=32, logging_steps=1, warmup=0.0,
                                head_learning_rate=1e-3, show_progress=False)
    report = CrossEncoderDistiller(config).run()
    losses = report["loss"]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05, losses
    assert _separation(str(tmp_path / "ce"), pairs, train["label"]) > 0.2


def test_cross_encoder_with_fewer_layers_saves_and_loads(data: Path, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    from enrich.retrieval.compact import layer_count

    out = tmp_path / "ce2l"
    config = CrossEncoderConfig(data=data, out=out, max_steps=2, batch_size=4, max_length=48,
                                layers=2, show_progress=False)
    CrossEncoderDistiller(config).run()
    loaded = CrossEncoder(str(out), device="cpu")
    assert layer_count(loaded) == 2
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 2
    scores = loaded.predict(list(zip(QUERIES, DOCS, strict=True)))
    assert scores.shape == (2,) and ((0 < scores) & (scores < 1)).all()
    assert json.loads((out / "enrich_distill.json").read_text())["config"]["layers"] == 2
