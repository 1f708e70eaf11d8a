"""Continuation scoring (query likelihood) as a backend capability: HTTP echo parsing, the
bad-match QL-PMI score over an OpenAI-compatible server, and the backends that refuse."""

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tasks_support import TASK_JOBS, make_project, run_job, view_rows

from enrich.backends import create_backend
from enrich.backends.http_scoring import HttpContinuationScorer, continuation_logprobs
from enrich.backends.scoring import continuation_scorer, unsupported_reason
from enrich.errors import ConfigError
from enrich.jobs import BackendSpec, load_job
from enrich.testing.fake_completions import completion_body, token_logprob, tokenize
from enrich.testing.fake_server import FakeServer, FakeServerConfig

_word = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), max_codepoint=0x2FF),
                min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(prefix_words=st.lists(_word, min_size=1, max_size=8),
       query_words=st.lists(_word, min_size=0, max_size=6))
def test_echo_parsing_picks_exactly_the_continuation_tokens(prefix_words: list[str],
                                                            query_words: list[str]) -> None:
    prefix = " ".join(prefix_words) + ":"
    continuation = "".join(" " + w for w in query_words)
    body = completion_body({"prompt": prefix + continuation, "echo": True, "logprobs": 1,
                            "max_tokens": 1}, "m")
    picked = continuation_logprobs(body["choices"][0]["logprobs"], len(prefix),
                                   len(prefix + continuation))
    expected, seen = [], prefix
    for token in tokenize(continuation):
        expected.append(token_logprob(token, seen))
        seen += token
    assert picked == expected  # the generated token and the prefix never leak in


def test_echo_parsing_without_offsets_rebuilds_them() -> None:
    body = completion_body({"prompt": "Doc: a b\nQ: a c", "echo": True, "logprobs": 0}, "m")
    logprobs = dict(body["choices"][0]["logprobs"])
    with_offsets = continuation_logprobs(logprobs, len("Doc: a b\nQ:"), len("Doc: a b\nQ: a c"))
    logprobs.pop("text_offset")
    assert continuation_logprobs(logprobs, len("Doc: a b\nQ:"),
                                 len("Doc: a b\nQ: a c")) == with_offsets == [-0.5, -4.0]


def test_http_scorer_against_the_fake_server_in_vllm_shape() -> None:
    with FakeServer(FakeServerConfig()) as server:
        spec = BackendSpec(kind="openai", base_url=server.url, model="test-model")
        scorer = HttpContinuationScorer(spec, concurrency=3)

        async def run() -> list[list[float]]:
            try:
                return await scorer.score_continuations([("Item: red drill\nQuery:", " red saw"),
                                                         ("Item: x\nQuery:", "")])
            finally:
                await scorer.close()

        assert asyncio.run(run()) == [[-0.5, -4.0], []]


def test_bad_match_query_likelihood_runs_over_http(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    job_name = TASK_JOBS["bad_match"]
    with FakeServer(FakeServerConfig()) as server:
        overrides = {"backend.kind": "openai", "backend.base_url": server.url,
                     "backend.model": "test-model", "backend.server": "vllm",
                     "task_options.query_likelihood": {}}
        job = load_job(project / "jobs" / job_name, overrides)
        backend = create_backend(job.backend, concurrency=2, cache_dir=project / "cache",
                                 logprobs=True)
        summary = run_job(project, job_name, backend, limit=6, **overrides)
        completions = server.stats()
    assert summary.ok == 6
    rows = view_rows(project, "SELECT query, item_text, ql_cond, ql_uncond, ql_pmi, ql_scorer "
                              "FROM match_labels")
    assert {r["ql_scorer"] for r in rows} == {"query_likelihood:test-model"}
    for row in rows:  # the fake gives -0.5 to words seen before, -4.0 to new ones
        words = row["query"].split()
        seen = set(f"Product: {row['item_text']}".lower().split())
        expected, running = [], set(seen) | {"a", "shopper", "searching", "for", "this",
                                             "product", "typed:"}
        for word in words:
            expected.append(-0.5 if word.lower() in running else -4.0)
            running.add(word.lower())
        assert row["ql_cond"] == pytest.approx(sum(expected) / len(expected))
        assert row["ql_pmi"] == pytest.approx(row["ql_cond"] - row["ql_uncond"])
    assert completions["requests_total"] >= 6  # chat requests went to the same server


@pytest.mark.parametrize(("server", "url", "refused"), [
    ("openai", "https://example.com/v1", True),
    (None, "https://api.openai.com/v1", True),
    ("llamacpp-server", "http://127.0.0.1:8080/v1", True),
    ("vllm", "http://127.0.0.1:8000/v1", False),
    (None, "http://127.0.0.1:8000/v1", False),
])
def test_backends_that_cannot_score_given_text_say_so(server: str | None, url: str,
                                                      refused: bool) -> None:
    spec = BackendSpec(kind="openai", base_url=url, model="m", server=server)
    assert (unsupported_reason(spec) is not None) == refused
    if refused:
        with pytest.raises(ConfigError, match="query_likelihood.model"):
            continuation_scorer(spec, cache_dir=Path("."))


def test_bad_match_refuses_openai_before_any_request(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    with pytest.raises(ConfigError, match="OpenAI's API returns no log-probabilities"):
        run_job(project, TASK_JOBS["bad_match"], object(), limit=1,
                **{"backend.kind": "openai", "backend.base_url": "https://api.openai.com/v1",
                   "task_options.query_likelihood": {}})


@pytest.mark.slow
def test_in_process_scorer_prefers_the_matching_query() -> None:
    from enrich.backends.llamacpp_scoring import LlamaCppContinuationScorer
    from enrich.backends.model_files import locate_model
    from enrich.settings import EnrichSettings

    scorer = LlamaCppContinuationScorer(locate_model("smollm2-135m", EnrichSettings().cache_dir))
    prefix = "Product: DeWalt 20V Cordless Drill\nA shopper searching for this product typed:"

    async def run() -> list[list[float]]:
        try:
            return await scorer.score_continuations([(prefix, " cordless drill"),
                                                     (prefix, " garden hose"), (prefix, "")])
        finally:
            await scorer.close()

    match, other, empty = asyncio.run(run())
    assert len(match) == 3 and empty == []  # " cord", "less", " drill" in SmolLM2's vocabulary
    assert sum(match) / len(match) > sum(other) / len(other)
