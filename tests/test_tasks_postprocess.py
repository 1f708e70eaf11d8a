"""Post-processing pieces: P(label) from logprobs, span offsets, the query filter, rankers."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tasks_support import logprob_entries

from enrich.backends.base import LLMRequest, LLMResult
from enrich.tasks import get_task
from enrich.tasks.bad_match import p_bad_from
from enrich.tasks.logprobs import label_distribution, string_value_logprobs, token_spans
from enrich.tasks.query_filter import QueryFilterOptions, decide
from enrich.tasks.ranking import BM25Ranker
from enrich.tasks.spans import locate_spans

LABELS = ("good", "partial", "bad")


def _result(content: str, logprobs: list | None = None, row_id: str = "1") -> LLMResult:
    return LLMResult(LLMRequest("k", row_id, [], {}), content=content, logprobs=logprobs)


# -- P(label) from token logprobs ---------------------------------------------------------------
def test_label_distribution_sums_case_quote_and_prefix_variants() -> None:
    content = '{"label": "partial", "reason": "x"}'
    alternatives = {"partial": -0.7, "part": -3.0, "good": -1.2, " Good": -4.0, "bad": -2.0,
                    "poor": -2.5}
    dist = label_distribution(logprob_entries(content, "partial", alternatives), content,
                              "label", LABELS)
    assert dist is not None
    partial = math.exp(-0.7) + math.exp(-3.0)
    good = math.exp(-1.2) + math.exp(-4.0)
    bad = math.exp(-2.0)  # "poor" names no label and is ignored
    total = partial + good + bad
    assert dist == pytest.approx({"partial": partial / total, "good": good / total,
                                  "bad": bad / total})


def test_label_token_that_carries_the_opening_quote() -> None:
    content = '{"label": "bad"}'
    logprobs = [{"token": '{"label": ', "logprob": 0.0},
                {"token": '"bad', "logprob": -0.2, "top_logprobs": [
                    {"token": '"bad', "logprob": -0.2}, {"token": '"good', "logprob": -2.0}]},
                {"token": '"}', "logprob": 0.0}]
    dist = label_distribution(logprobs, content, "label", LABELS)
    assert dist is not None and dist["bad"] == pytest.approx(
        math.exp(-0.2) / (math.exp(-0.2) + math.exp(-2.0)))


@pytest.mark.parametrize("logprobs", [None, [], [{"token": "something else", "logprob": -1}]])
def test_no_usable_logprobs_gives_none(logprobs: list | None) -> None:
    assert label_distribution(logprobs, '{"label": "bad"}', "label", LABELS) is None


def test_p_bad_falls_back_to_the_verbalized_score() -> None:
    output = {"label": "bad", "bad_likelihood": 7, "reason": "r"}
    derived = p_bad_from(output, _result('{"label": "bad"}'))
    assert derived == {"p_bad": 0.7, "p_bad_source": "verbalized", "label_probs": None,
                       "p_bad_verbalized": 0.7}


def test_string_value_logprobs_average_the_tokens_of_each_query() -> None:
    content = '{"queries": [{"kind": "broad", "query": "red shoes"}]}'
    cut = content.index("red")
    logprobs = [{"token": content[:cut], "logprob": 0.0}, {"token": "red", "logprob": -1.0},
                {"token": " shoes", "logprob": -2.0}, {"token": '"}]}', "logprob": 0.0}]
    assert token_spans(logprobs, content) is not None
    assert string_value_logprobs(logprobs, content, ["red shoes", "absent"]) == [-1.5, None]


def test_synthetic_postprocess_scores_and_normalises_queries() -> None:
    task = get_task("synthetic_queries", {})
    task.id_column = "product_uid"
    task.variables({"product_uid": 7, "title": "Red Shoe"})
    content = '{"queries": [{"kind": "specific", "query": "red  shoe"}]}'
    output = task.postprocess({"queries": [{"kind": "specific", "query": "red  shoe"}]},
                              _result(content, logprob_entries(content), row_id="7"))
    assert output["item_text"] == "Red Shoe"
    assert output["queries"] == [{"kind": "specific", "query": "red shoe", "llm_score": -0.05}]


# -- span offsets -------------------------------------------------------------------------------
def test_spans_are_placed_in_order_and_index_the_query() -> None:
    query = "Dewalt  20v MAX drill drill bits"
    located, unlocated = locate_spans(query, [
        {"text": "drill", "type": "product_type"}, {"text": "dewalt", "type": "brand"},
        {"text": "20v max", "type": "attribute"}, {"text": "drill bits", "type": "product_type"},
        {"text": "saw", "type": "product_type"}])
    assert [(s["text"], s["start"]) for s in located] == [
        ("Dewalt", 0), ("20v MAX", 8), ("drill", 16), ("drill bits", 22)]
    assert all(query[s["start"]:s["end"]] == s["text"] for s in located)
    assert unlocated == [{"text": "saw", "type": "product_type", "reason": "not in the query"}]


def test_spelling_fixed_spans_are_placed_fuzzily_on_the_original_words() -> None:
    located, _ = locate_spans("ceilin storage", [{"text": "ceiling", "type": "location"},
                                                 {"text": "storage", "type": "product_type"}])
    assert [(s["text"], s["start"], s["end"]) for s in located] == [
        ("ceilin", 0, 6), ("storage", 7, 14)]


def test_a_repeated_span_cannot_take_the_same_words_twice() -> None:
    located, unlocated = locate_spans("pvc elbow", [{"text": "pvc", "type": "material"},
                                                    {"text": "pvc", "type": "material"}])
    assert len(located) == 1 and unlocated[0]["reason"] == "overlaps another span"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab Cé/1 -", max_size=30),
       st.lists(st.text(alphabet="ab Cé/1 -", min_size=0, max_size=8), max_size=5))
def test_located_spans_always_index_the_query(query: str, texts: list[str]) -> None:
    located, unlocated = locate_spans(query, [{"text": t, "type": "other"} for t in texts])
    assert len(located) + len(unlocated) == len(texts)
    for span in located:
        assert query[span["start"]:span["end"]] == span["text"]
    ordered = sorted((s["start"], s["end"]) for s in located)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(ordered, ordered[1:],
                                                                       strict=False))


def test_query_understanding_postprocess_without_a_remembered_query() -> None:
    task = get_task("query_understanding", {})
    output = task.postprocess({"corrected": "x", "intent": "other", "rewrites": [],
                               "spans": [{"text": "x", "type": "other"}]}, _result("{}"))
    assert output["spans"] == [] and output["unlocated_spans"][0]["reason"] == "query unknown"


# -- the consistency filter ---------------------------------------------------------------------
def test_filter_keeps_by_rank_or_llm_score_and_says_why() -> None:
    cfg = QueryFilterOptions(top_k=2, min_llm_score=-1.0)
    decisions = decide(["a", "b", "c", "d", "B"], [1, 5, None, 7, 1],
                       [-3.0, -0.5, -2.0, None, -0.1], cfg)
    assert decisions == [
        (True, "bm25 rank 1 ≤ 2"),
        (True, "llm score -0.50 ≥ -1 (bm25 rank 5 > 2)"),
        (False, "not in bm25 top 100; llm score -2.00 < -1"),
        (False, "bm25 rank 7 > 2; no llm score (run without logprobs)"),
        (False, "duplicate of query 1"),
    ]


def test_bm25_ranker_ranks_the_target_item() -> None:
    ranker = BM25Ranker(["1", "2", "3"], ["cordless drill 20v", "drill bit set",
                                          "cotton bath mat"])
    assert ranker.ranks(["20v cordless drill", "drill bits", "bath", "", "zebra"],
                        ["1", "1", "3", "3", "1"]) == [1, 2, 1, None, None]
    assert ranker.ranks(["drill", "drill"], ["1", "2"]) == [1, 1]  # a tie shares rank 1
    assert [i for i, _ in ranker.top("drill bits", 2)] == ["2", "1"]
