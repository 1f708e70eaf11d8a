"""Index build / save / load / search, BM25, rerank and the pipeline, on the fixture items."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from distill_fixtures import ITEMS
from retrieval_fixtures import bi_encoder, cross_encoder, index_folder  # noqa: F401

from enrich.errors import ConfigError
from enrich.retrieval import BM25Retriever, ItemIndex, Pipeline, Reranker, Retriever


def test_saved_index_round_trips(index_folder: Path) -> None:  # noqa: F811
    info = json.loads((index_folder / "index.json").read_text())
    assert info["count"] == len(ITEMS) and info["kind"] == "exact" and info["dim"] == 384
    index = ItemIndex.load(index_folder)
    assert index.ids == list(ITEMS) and index.texts == list(ITEMS.values())
    assert index.metadata[0]["price"] == 0.0
    norms = np.linalg.norm(index.embeddings, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)


def test_exact_and_usearch_agree(index_folder: Path) -> None:  # noqa: F811
    exact = ItemIndex.load(index_folder)
    ann = ItemIndex(exact.ids, exact.texts, exact.embeddings, exact.model, ann=True)
    assert ann.kind == "usearch"
    queries = exact.embeddings[[2, 5, 9]]
    e_scores, e_pos = exact.search(queries, k=3)
    a_scores, a_pos = ann.search(queries, k=3)
    assert e_pos[:, 0].tolist() == [2, 5, 9] == a_pos[:, 0].tolist()
    assert np.allclose(e_scores[:, 0], 1.0, atol=1e-4) and np.allclose(a_scores[:, 0], 1.0,
                                                                       atol=1e-3)
    assert (np.diff(e_scores, axis=1) <= 1e-6).all()


def test_usearch_index_saves_and_loads(tmp_path: Path, index_folder: Path) -> None:  # noqa: F811
    exact = ItemIndex.load(index_folder)
    ItemIndex(exact.ids, exact.texts, exact.embeddings, exact.model, ann=True).save(tmp_path)
    loaded = ItemIndex.load(tmp_path)
    assert loaded.kind == "usearch" and (tmp_path / "ann.usearch").is_file()
    assert loaded.search(exact.embeddings[4], k=1)[1][0, 0] == 4


def test_retriever_finds_the_item(index_folder: Path, bi_encoder: Any) -> None:  # noqa: F811
    retriever = Retriever.from_folder(index_folder, model=bi_encoder)
    hits = retriever.search("cast iron pan for cooking", k=3)
    assert hits[0].item_id == "i6" and [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert hits[0].metadata["title"].startswith("Cast iron")
    assert len(retriever.search("anything", k=100)) == len(ITEMS)


def test_bm25_retriever() -> None:
    bm25 = BM25Retriever(list(ITEMS), list(ITEMS.values()))
    hits = bm25.search("garden hose", k=5)
    assert hits[0].item_id == "i8" and all(h.score > 0 for h in hits)
    assert bm25.search("the and of", k=5) == []  # only stop words


def test_rerank_orders_by_cross_encoder_score(index_folder: Path, bi_encoder: Any,  # noqa: F811
                                              cross_encoder: Any) -> None:  # noqa: F811
    reranker = Reranker(cross_encoder)
    pipeline = Pipeline(Retriever.from_folder(index_folder, model=bi_encoder), reranker,
                        candidates=6)
    hits = pipeline.search("smoke alarm", k=4)
    assert len(hits) == 4 and [h.rank for h in hits] == [1, 2, 3, 4]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    assert all("retrieval_score" in h.metadata and "retrieval_rank" in h.metadata for h in hits)
    expected = reranker.score("smoke alarm", [hits[0].text])[0]
    assert hits[0].score == pytest.approx(float(expected), abs=1e-5)


def test_pipeline_without_reranker_keeps_first_stage(index_folder: Path,  # noqa: F811
                                                     bi_encoder: Any) -> None:  # noqa: F811
    retriever = Retriever.from_folder(index_folder, model=bi_encoder)
    assert [h.item_id for h in Pipeline(retriever).search("bath mat", k=3)] == \
        [h.item_id for h in retriever.search("bath mat", k=3)]


def test_missing_index_and_duplicate_ids_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no index"):
        ItemIndex.load(tmp_path)
    with pytest.raises(ConfigError, match="not unique"):
        ItemIndex.build(["a", "a"], ["x", "y"], model=object())


def test_reranker_scores_in_input_order_whatever_the_lengths(cross_encoder: Any) -> None:  # noqa: F811
    texts = ["hose", "Memory foam bath mat, non-slip, machine washable, grey, 50 x 80 cm",
             "drill", "Cordless drill with two lithium batteries and a case"]
    reranker = Reranker(cross_encoder, batch_size=2)
    expected = cross_encoder.predict([("drill", t) for t in texts], batch_size=1)
    assert reranker.score("drill", texts) == pytest.approx(expected, abs=1e-5)


def test_int8_reranker_is_close_to_fp32_and_leaves_the_model_alone(cross_encoder: Any  # noqa: F811
                                                                   ) -> None:
    import torch

    texts = list(ITEMS.values())
    fp32 = Reranker(cross_encoder).score("cordless drill", texts)
    int8 = Reranker(cross_encoder, int8=True)
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear)
               for m in int8.model.modules())
    assert not any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear)
                   for m in cross_encoder.modules())
    assert int8.score("cordless drill", texts) == pytest.approx(fp32, abs=0.03)


def test_keep_layers_drops_the_top_layers_and_checks_the_count() -> None:
    from enrich.errors import ConfigError
    from enrich.retrieval.compact import keep_layers, layer_count
    from enrich.retrieval.encoder import load_cross_encoder

    model = load_cross_encoder(None, max_length=32)[0]
    with pytest.raises(ConfigError, match="pick a number from 1 to 6"):
        keep_layers(model, 7)
    assert layer_count(keep_layers(model, 2)) == 2
    assert model.predict([("drill", "cordless drill")]).shape == (1,)


def test_blend_interpolates_cross_encoder_and_first_stage(cross_encoder: Any) -> None:  # noqa: F811
    from enrich.retrieval import SearchHit

    texts = list(ITEMS.values())[:4]
    hits = [SearchHit(f"i{n}", t, float(10 - n), n + 1) for n, t in enumerate(texts)]
    reranker = Reranker(cross_encoder)
    ce = reranker.score("drill", texts)
    first_only = reranker.rerank("drill", hits, blend=0.0)
    assert [h.item_id for h in first_only] == ["i0", "i1", "i2", "i3"]
    assert [h.score for h in first_only] == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    half = {h.item_id: h for h in reranker.rerank("drill", hits, blend=0.5)}
    first_scaled = {"i0": 1.0, "i1": 2 / 3, "i2": 1 / 3, "i3": 0.0}
    for n in range(4):
        hit = half[f"i{n}"]
        assert hit.score == pytest.approx(0.5 * ce[n] + 0.5 * first_scaled[f"i{n}"], abs=1e-5)
        assert hit.metadata["rerank_score"] == pytest.approx(float(ce[n]), abs=1e-6)
    with pytest.raises(ValueError, match="blend must be in"):
        reranker.rerank("drill", hits, blend=1.5)
