"""The distillation data builder on a small fixture store (real MiniLM miner, a few seconds)."""

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from distill_fixtures import ITEMS, LABELS, QUERIES, make_store

from enrich.distill.data import DistillDataBuilder, DistillDataConfig, in_dev
from enrich.distill.dataset import DistillDataset
from enrich.distill.views import parse_id_list
from enrich.errors import ConfigError


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("distill")
    db = make_store(folder / "store.duckdb")
    config = DistillDataConfig(db=db, out=folder / "data", dev_fraction=0.3, num_negatives=3,
                               show_progress=False)
    return folder / "data", DistillDataBuilder(config).build()


def test_pairs_are_the_kept_synthetic_queries(built: tuple[Path, dict]) -> None:
    pairs = pd.read_parquet(built[0] / "pairs.parquet")
    kept = {(q, i) for i, q, keep in QUERIES if keep}
    assert set(zip(pairs["query"], pairs["item_id"], strict=True)) == kept
    assert "zzz unrelated dropped query" not in set(pairs["query"])
    assert (pairs["item_text"] == pairs["item_id"].map(ITEMS)).all()


def test_negatives_never_equal_a_positive(built: tuple[Path, dict]) -> None:
    folder, manifest = built
    pairs = pd.read_parquet(folder / "pairs.parquet")
    negatives = pd.read_parquet(folder / "negatives.parquet")
    assert len(negatives) > 0
    positives = pairs.groupby("query")["item_id"].agg(set).to_dict()
    for row in negatives.itertuples():
        assert row.negative_id not in positives[row.query]
        assert row.negative != row.positive
        assert row.negative_id in ITEMS
    # i2 has exactly i1's text: it must never be a negative for a query whose positive is i1
    drill = negatives[negatives["positive_id"].isin(["i1", "i2"])]
    assert not set(drill["negative_id"]) & {"i1", "i2"}
    assert (negatives.groupby(["query", "positive_id"]).size() <= 3).all()
    assert (negatives["negative_score"] <= negatives["positive_score"]).all()
    assert manifest["mining"]["num_negatives"] == 3


def test_manifest_counts_match_the_files(built: tuple[Path, dict]) -> None:
    folder, manifest = built
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["counts"] == manifest["counts"]
    for name, counts in manifest["counts"].items():
        assert sum(counts.values()) == len(pd.read_parquet(folder / f"{name}.parquet")), name
    assert sum(manifest["counts"]["pairs"].values()) == sum(keep for _, _, keep in QUERIES)
    sources = manifest["sources"]
    assert sources["synthetic_queries"] == [{
        "run_id": "run-sq", "job_name": "demo-queries", "task": "synthetic_queries",
        "prompt_name": "synthetic_queries", "prompt_version": "aaa111", "model": "qwen"}]
    assert sources["match_labels"][0]["prompt_version"] == "bbb222"
    assert sources["user_summaries"][0]["run_id"] == "run-us"


def test_teacher_scores_and_margins(built: tuple[Path, dict]) -> None:
    folder, _ = built
    teacher = pd.read_parquet(folder / "teacher.parquet")
    assert len(teacher) == len(LABELS)
    by_pair = {(r.query, r.item_id): r.relevance for r in teacher.itertuples()}
    assert by_pair[("cordless drill", "i1")] == pytest.approx(0.95)
    assert by_pair[("faucet", "i3")] == 1.0 and by_pair[("faucet", "i8")] == 0.0  # from labels
    margins = pd.read_parquet(folder / "margins.parquet")
    assert (margins["margin"] >= 0.1).all()
    train_queries = set(teacher[teacher["split"] == "train"]["query"])
    assert set(margins["query"]) <= train_queries


def test_user_pairs_skip_unknown_items(built: tuple[Path, dict]) -> None:
    users = pd.read_parquet(built[0] / "user_pairs.parquet")
    assert set(zip(users["user_id"], users["item_id"], strict=True)) == {
        ("u1", "i1"), ("u1", "i9"), ("u1", "i11"), ("u2", "i6"), ("u2", "i7")}
    assert users.groupby("user_id")["split"].nunique().max() == 1  # split by user


def test_dataset_views_for_training(built: tuple[Path, dict]) -> None:
    data = DistillDataset(built[0])
    triplets = data.triplets("train", num_negatives=2)
    assert triplets.column_names == ["anchor", "positive", "negative_1", "negative_2"]
    assert all(p != n for p, n in zip(triplets["positive"], triplets["negative_1"], strict=True))
    labeled = data.labeled_pairs("train", num_negatives=1)
    assert labeled.column_names == ["query", "document", "label"]
    assert set(labeled["label"]) >= {0.0, 1.0}
    queries, corpus, relevant = data.retrieval_eval("dev")
    assert all(i in corpus for ids in relevant.values() for i in ids)
    assert set(relevant) == set(queries)


def test_split_is_stable_and_disjoint(built: tuple[Path, dict]) -> None:
    pairs = pd.read_parquet(built[0] / "pairs.parquet")
    assert pairs.groupby("item_id")["split"].nunique().max() == 1
    assert [in_dev(f"x{i}", 0.5) for i in range(8)] == [in_dev(f"x{i}", 0.5) for i in range(8)]


def test_store_without_views_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(ConfigError, match="no rows in synthetic_queries"):
        DistillDataBuilder(DistillDataConfig(db=db, out=tmp_path / "out")).build()


def test_parse_id_list_accepts_lists_json_and_text() -> None:
    assert parse_id_list(["a", None, "b "]) == ["a", "b"]
    assert parse_id_list('["1", 2]') == ["1", "2"]
    assert parse_id_list("1; 2,3") == ["1", "2", "3"]
    assert parse_id_list(None) == []
