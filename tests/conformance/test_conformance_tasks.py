"""Every task's shipped job, run through ``enrich run`` against every server kind.

Server kinds: the real ``python -m llama_cpp.server`` with SmolLM2-135M (``--server
llamacpp-server``; marker ``realserver``) and the fake server in each dialect. Checks per (server,
task): the job finishes; structured output was asked for in the dialect's form (request bodies,
on the fake) and honoured (raw answers are JSON objects); outputs validate (at least a bar of
rows ok); tokens are counted; logprobs are stored where the job asks for them.
"""

import json
from typing import Any

import pytest
from cli_run import REPO, TASK_JOBS, view_rows
from schema_checks import same_shape, sent_schema
from targets import KINDS, Conformance, TaskRun

from enrich.schema_registry import SchemaRegistry

SERVERS = [pytest.param(k.id, marks=[pytest.mark.realserver] if k.real else [])
           for k in KINDS.values()]
TASKS = list(TASK_JOBS)
LOGPROB_TASKS = {"synthetic_queries": 1, "bad_match": 10}  # task -> top_logprobs in its job
SCHEMA_OF = {"item_metadata": "ItemMetadata", "synthetic_queries": "SyntheticQueries",
             "user_summaries": "UserSummary", "bad_match": "MatchLabel",
             "query_understanding": "QueryParse"}
# Rows that must come back ok. The fake answers schema-valid JSON: every row. SmolLM2-135M
# behind llama_cpp.server (temperature 0, grammar from the schema): the grammar makes every
# answer parse, so what can still fail is a 135M model running into max_tokens inside a string;
# measured every row ok (3/3, 3/3, 3/3, 5/5, 3/3) on 2026-12-06. The bar allows one failed row
# per task because the numbers move with the llama.cpp build and thread count.
REAL_MIN_OK = {task: rows - 1 for task, (_, rows) in TASK_JOBS.items()}


@pytest.fixture
def run(request: pytest.FixtureRequest, conformance: Conformance, server: str,
        task: str) -> TaskRun:
    """The (session-cached) run of ``task``'s job against ``server``."""
    kind = KINDS[server]
    real = request.getfixturevalue("llama_server") if kind.real else None
    return conformance.task_run(kind, task, real)


def _observe(record_property: Any, text: str) -> None:
    record_property("observed", text)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("server", SERVERS)
def test_job_finishes(run: TaskRun, record_property: Any) -> None:
    """Exit 0, the run `finished`, every row either ok or a stored failure."""
    facts = run.store
    _observe(record_property, f"exit {run.cli.exit_code}, {facts.run_status}, "
             f"{facts.rows_ok} ok + {facts.rows_failed} failed of {run.limit} in "
             f"{run.cli.seconds:.0f} s")
    assert run.cli.exit_code == 0, run.cli.describe()
    assert facts.run_status == "finished"
    assert facts.rows_ok + facts.rows_failed == run.limit


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("server", SERVERS)
def test_structured_output_requested_and_honoured(run: TaskRun, record_property: Any) -> None:
    """The request carried the dialect's schema field (fake); every raw answer is a JSON object."""
    answers = run.store.answers()
    parsed = sum(1 for text in answers if _json_object(text))
    raw_controls = sum(1 for text in answers if _json_object(text) and not _strict_json(text))
    form = "answers are JSON objects"
    if raw_controls:
        form += f" ({raw_controls} with raw control characters inside strings, repaired)"
    problems: list[str] = []
    if run.bodies is not None:
        expected = _task_schema(run.task)
        for body in run.bodies:
            schema, wrong = sent_schema(body, run.kind.dialect)
            problems += wrong
            if schema is not None and not same_shape(schema, expected):
                sent = sorted(schema.get("properties") or {}) if isinstance(schema, dict) else []
                problems.append(f"the schema sent has properties {sent}")
        form = f"{len(run.bodies)} request bodies in the dialect's form; {form}"
    _observe(record_property, f"{form}: {parsed}/{len(answers)}")
    assert run.bodies is None or run.bodies, "the fake server received no request"
    assert not problems, f"{len(problems)} problems, e.g. {sorted(set(problems))[:4]}"
    assert answers, f"no answer was stored ({run.cli.describe()})"
    assert parsed == len(answers), next(t for t in answers if not _json_object(t))[:200]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("server", SERVERS)
def test_outputs_validate(run: TaskRun, record_property: Any) -> None:
    """At least the bar of rows validates (every row on the fake; see REAL_MIN_OK)."""
    bar = REAL_MIN_OK[run.task] if run.kind.real else run.limit
    kinds = dict(run.store.failure_kinds())
    _observe(record_property, f"{run.store.rows_ok}/{run.limit} ok (bar {bar})"
             + (f", failed: {kinds}" if kinds else ""))
    assert run.store.rows_ok >= bar, [f["message"][:160] for f in run.store.failures]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("server", SERVERS)
def test_tokens_counted(run: TaskRun, record_property: Any) -> None:
    """Every stored request has prompt and completion token counts above zero."""
    requests = run.store.requests
    tokens_in = sum(r["prompt_tokens"] or 0 for r in requests)
    tokens_out = sum(r["completion_tokens"] or 0 for r in requests)
    _observe(record_property, f"{tokens_in} in / {tokens_out} out over {len(requests)} requests")
    assert requests, run.cli.describe()
    assert all((r["prompt_tokens"] or 0) > 0 and (r["completion_tokens"] or 0) > 0
               for r in requests), [(r["prompt_tokens"], r["completion_tokens"]) for r in requests]


@pytest.mark.parametrize("task", sorted(LOGPROB_TASKS))
@pytest.mark.parametrize("server", SERVERS)
def test_logprobs_where_the_job_asks(run: TaskRun, record_property: Any) -> None:
    """Jobs with ``logprobs: true`` store token logprobs with the asked number of alternatives;
    the match labels take P(bad) from them."""
    top_n = LOGPROB_TASKS[run.task]
    stored = [r["logprobs"] for r in run.store.requests]
    with_top = [lp for lp in stored if lp and all(len(t.get("top_logprobs") or []) >= top_n
                                                  for t in lp)]
    observed = f"{len(with_top)}/{len(stored)} requests with token logprobs (top {top_n})"
    if run.bodies is not None:
        asked = [(b.get("logprobs"), b.get("top_logprobs")) for b in run.bodies]
        assert set(asked) == {(True, top_n)}, asked
    if run.task == "bad_match":
        sources = [r["p_bad_source"] for r in view_rows(run.db, "SELECT p_bad_source FROM "
                                                                "match_labels")]
        observed += f"; p_bad from logprobs for {sources.count('logprobs')}/{len(sources)} rows"
        assert sources and set(sources) == {"logprobs"}, sources
    _observe(record_property, observed)
    assert stored and len(with_top) == len(stored), observed


def _task_schema(task: str) -> dict[str, Any]:
    return SchemaRegistry(REPO / "schemas").get(SCHEMA_OF[task]).json_schema


def _json_object(text: str) -> bool:
    """Whether ``text`` is one JSON object as it came from the server (raw control characters
    inside strings allowed: llama.cpp's grammar lets them through; enrich repairs them)."""
    try:
        return isinstance(json.loads(text, strict=False), dict)
    except ValueError:
        return False


def _strict_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
