"""The example task jobs end to end on a fake backend: stored rows, views, finalize steps."""

import csv
from pathlib import Path

import orjson
import pytest
from test_tasks_support import (
    TASK_JOBS,
    fake_backend,
    logprob_entries,
    make_project,
    run_job,
    schema_answer,
    view_rows,
)

from enrich.backends.base import LLMRequest, LLMResult

CONTRACT = {
    "item_metadata": ("run_id", "item_id", "clean_title", "summary", "category", "creator",
                      "properties", "keywords", "input", "model", "prompt_version",
                      "created_at"),
    "synthetic_queries": ("run_id", "item_id", "item_text", "query", "kind", "kept", "reason",
                          "rank", "model", "prompt_version", "created_at"),
    "user_summaries": ("run_id", "user_id", "summary", "liked", "disliked", "model",
                       "prompt_version", "created_at"),
    "match_labels": ("run_id", "pair_id", "query", "item_id", "item_text", "label", "reason",
                     "p_bad", "p_bad_source", "model", "prompt_version", "created_at"),
    "query_parses": ("run_id", "query_id", "query", "corrected", "intent", "spans", "rewrites",
                     "model", "prompt_version", "created_at"),
}
VIEW_OF = {"item_metadata": "item_metadata", "synthetic_queries": "synthetic_queries",
           "user_summaries": "user_summaries", "bad_match": "match_labels",
           "query_understanding": "query_parses"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


@pytest.mark.parametrize("task", sorted(TASK_JOBS))
def test_example_job_fills_its_view_with_the_contract_columns(project: Path, task: str) -> None:
    summary = run_job(project, TASK_JOBS[task], fake_backend(), limit=4)
    assert (summary.ok, summary.failed, summary.status) == (4, 0, "finished")
    view = VIEW_OF[task]
    rows = view_rows(project, f"SELECT * FROM {view}")
    assert rows and set(CONTRACT[view]) <= set(rows[0])
    assert {r["run_id"] for r in rows} == {summary.run_id}
    assert {r["model"] for r in rows} == {"qwen2.5-coder-0.5b"}


def test_views_only_show_runs_of_their_own_task(project: Path) -> None:
    run_job(project, TASK_JOBS["bad_match"], fake_backend(), limit=2)
    run_job(project, TASK_JOBS["user_summaries"], fake_backend(), limit=3)
    assert len(view_rows(project, "SELECT * FROM match_labels")) == 2
    assert len(view_rows(project, "SELECT * FROM user_summaries")) == 3
    assert view_rows(project, "SELECT * FROM query_parses") == []


def test_two_runs_over_the_same_rows_are_both_visible(project: Path) -> None:
    first = run_job(project, TASK_JOBS["item_metadata"], fake_backend(), limit=2)
    second = run_job(project, TASK_JOBS["item_metadata"], fake_backend(), limit=3)
    rows = view_rows(project, "SELECT run_id, item_id FROM item_metadata")
    assert sorted(r["run_id"] for r in rows).count(first.run_id) == 2
    assert sorted(r["run_id"] for r in rows).count(second.run_id) == 3


def test_invalid_output_is_a_failure_with_its_reason(project: Path) -> None:
    def answer(request: LLMRequest) -> LLMResult:
        if request.row_id == "55995":
            return LLMResult(request, content='{"label": "terrible", "bad_likelihood": 3, '
                                              '"reason": "x"}')
        return schema_answer(request)

    summary = run_job(project, TASK_JOBS["bad_match"], fake_backend(answer), limit=3)
    assert (summary.ok, summary.failed) == (2, 1)
    failure = view_rows(project, "SELECT row_id, error_kind, message FROM failures")[0]
    assert failure["row_id"] == "55995" and failure["error_kind"] == "schema_violation"
    assert "label" in failure["message"]
    assert len(view_rows(project, "SELECT * FROM match_labels")) == 2


def test_synthetic_queries_keeps_and_drops_with_reasons(project: Path) -> None:
    with (project / "data" / "samples" / "homedepot_products.csv").open(encoding="utf-8") as f:
        titles = {r["product_uid"]: r["title"] for r in csv.DictReader(f)}

    def answer(request: LLMRequest) -> LLMResult:
        title = titles[request.row_id]
        queries = [{"kind": "specific", "query": " ".join(title.split()[:4])},
                   {"kind": "broad", "query": "zzz qqq unrelated"},
                   {"kind": "attribute", "query": " ".join(title.split()[:4]).upper()}]
        return LLMResult(request, content=orjson.dumps({"queries": queries}).decode())

    summary = run_job(project, TASK_JOBS["synthetic_queries"], fake_backend(answer), limit=5)
    rows = view_rows(project, "SELECT * FROM synthetic_queries ORDER BY item_id, query_index")
    assert len(rows) == 15 and {r["run_id"] for r in rows} == {summary.run_id}
    by_kind = {kind: [r for r in rows if r["kind"] == kind] for kind in
               ("specific", "broad", "attribute")}
    assert all(r["kept"] and r["rank"] <= 3 and "bm25 rank" in r["reason"]
               for r in by_kind["specific"])
    assert all(not r["kept"] and r["rank"] is None and "not in bm25" in r["reason"]
               for r in by_kind["broad"])
    assert all(not r["kept"] and r["reason"] == "duplicate of query 0"
               for r in by_kind["attribute"])
    assert all(r["item_text"] == titles[r["item_id"]] for r in rows)


def test_synthetic_queries_filter_runs_again_without_duplicating(project: Path) -> None:
    run_job(project, TASK_JOBS["synthetic_queries"], fake_backend(), limit=3)
    before = view_rows(project, "SELECT count(*) AS n FROM synthetic_query_checks")[0]["n"]
    run_job(project, TASK_JOBS["synthetic_queries"], fake_backend(), limit=3)  # a new run
    rows = view_rows(project, "SELECT run_id, count(*) AS n FROM synthetic_query_checks "
                              "GROUP BY 1")
    assert [r["n"] for r in rows] == [before, before]


def test_bad_match_reads_p_bad_from_logprobs_else_verbalized(project: Path) -> None:
    def answer(request: LLMRequest) -> LLMResult:
        content = '{"label": "bad", "bad_likelihood": 9, "reason": "wrong product"}'
        if request.row_id == "55995":  # this backend gave no logprobs
            return LLMResult(request, content=content)
        alternatives = {"bad": -0.5, "good": -1.5, "partial": -2.0, "Bad": -3.0}
        return LLMResult(request, content=content,
                         logprobs=logprob_entries(content, "bad", alternatives))

    run_job(project, TASK_JOBS["bad_match"], fake_backend(answer), limit=3)
    rows = {r["pair_id"]: r for r in view_rows(project, "SELECT * FROM match_labels")}
    assert rows["55995"]["p_bad_source"] == "verbalized"
    assert rows["55995"]["p_bad"] == pytest.approx(0.9)
    other = rows["57937"]
    assert other["p_bad_source"] == "logprobs"
    import math
    bad, good, partial = math.exp(-0.5) + math.exp(-3.0), math.exp(-1.5), math.exp(-2.0)
    assert other["p_bad"] == pytest.approx(bad / (bad + good + partial), abs=1e-5)
    assert other["item_id"] == "115388" and other["query"] == "1/2 sharkbite coupling"
    assert other["item_text"].startswith("SharkBite 12-Port PEX Manifold")


def test_query_parse_spans_index_the_query(project: Path) -> None:
    def answer(request: LLMRequest) -> LLMResult:
        spans = [{"text": "SHARKBITE", "type": "brand"}, {"text": "coupling", "type":
                 "product_type"}, {"text": "1/2", "type": "size_quantity"},
                 {"text": "pex pipe", "type": "product_type"}]
        return LLMResult(request, content=orjson.dumps({
            "corrected": "1/2 sharkbite coupling", "intent": "specific_product",
            "spans": spans, "rewrites": ["1/2 Sharkbite Coupling", "push fit coupling"]}).decode())

    run_job(project, TASK_JOBS["query_understanding"], fake_backend(answer), limit=1)
    row = view_rows(project, "SELECT * FROM query_parses")[0]
    spans = orjson.loads(row["spans"])
    assert [(s["text"], s["type"]) for s in spans] == [
        ("1/2", "size_quantity"), ("sharkbite", "brand"), ("coupling", "product_type")]
    assert all(row["query"][s["start"]:s["end"]] == s["text"] for s in spans)
    assert orjson.loads(row["unlocated_spans"])[0]["text"] == "pex pipe"
    assert row["rewrites"] == ["push fit coupling"]  # the query itself is not a rewrite
    assert len(row["context_items"]) == 3  # RAG: the ids of the catalogue items shown


def test_user_summary_adds_liked_items_from_the_history(project: Path) -> None:
    run_job(project, TASK_JOBS["user_summaries"], fake_backend(), limit=1)
    row = view_rows(project, "SELECT * FROM user_summaries")[0]
    assert row["user_id"] == "2" and row["history_n"] == 15
    assert "60756" in row["liked_items"]  # Step Brothers, 5 stars, 7th of 20
    assert "106782" not in row["liked_items"]  # Wolf of Wall Street, 5 stars but 5th of 20
    assert len(row["disliked_items"]) == 1  # The Drop, 2 stars


class _OverlapScorer:
    """A continuation scorer whose log-probability per token rises with word overlap."""

    kind = "llamacpp"

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    async def score_continuations(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        self.calls.append(pairs)
        out = []
        for prefix, continuation in pairs:
            words = continuation.lower().split()
            overlap = len(set(words) & set(prefix.lower().split()))
            out.append([-2.0 + overlap] * len(words))  # mean = -2 + overlap
        return out


def test_bad_match_query_likelihood_scores_land_in_the_view(project: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import enrich.backends.scoring as scoring

    fake = _OverlapScorer()
    monkeypatch.setattr(scoring, "continuation_scorer",
                        lambda spec, **kw: scoring.OwnedScorer(fake, "fake-ql"))
    run_job(project, TASK_JOBS["bad_match"], fake_backend(), limit=3,
            **{"task_options.query_likelihood": {"model": "smollm2-135m"}})
    rows = view_rows(project, "SELECT pair_id, ql_pmi, ql_scorer FROM match_labels "
                              "ORDER BY pair_id")
    assert [r["ql_scorer"] for r in rows] == ["fake-ql"] * 3
    # "1/2", "sharkbite" overlap the title; the empty-item prefix overlaps nothing
    assert {r["pair_id"]: r["ql_pmi"] for r in rows}["55995"] == 2.0
    unconditional = [p for call in fake.calls for p in call if "Product: \n" in p[0]]
    assert len(unconditional) == len({c for _, c in unconditional})  # once per query


def test_query_likelihood_on_openai_needs_an_embedded_model(project: Path) -> None:
    from enrich.errors import ConfigError

    with pytest.raises(ConfigError, match="query_likelihood.model"):
        run_job(project, TASK_JOBS["bad_match"], fake_backend(), limit=1,
                **{"task_options.query_likelihood": {}, "backend.kind": "openai",
                   "backend.server": "openai", "backend.base_url": "http://127.0.0.1:9/v1"})


def test_synthetic_queries_from_the_item_metadata_view_of_the_same_store(project: Path) -> None:
    run_job(project, TASK_JOBS["item_metadata"], fake_backend(), limit=4)
    (project / "jobs" / "chained.yaml").write_text(
        "name: chained\ntask: synthetic_queries\nprompt: synthetic_queries\n"
        "source: {duckdb: enrich.duckdb, id_column: item_id, query: 'SELECT item_id, "
        "clean_title, summary FROM item_metadata'}\n"
        "task_options: {text_columns: [clean_title, summary]}\n")
    summary = run_job(project, "chained.yaml", fake_backend())
    assert (summary.ok, summary.status) == (4, "finished")
    rows = view_rows(project, "SELECT * FROM synthetic_queries WHERE run_id = ?",
                     [summary.run_id])
    assert rows and all(r["kept"] is not None for r in rows)
