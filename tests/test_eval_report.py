"""`enrich eval` from the command line, generation suites, and the static reports."""

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from test_eval_helpers import judge_backend, write_judge_project

from enrich.backends.base import LLMRequest, LLMResult
from enrich.evaluate.evaluation import evaluate_suite
from enrich.evaluate.report import write_report
from enrich.evaluate.results import SuiteResult, load_results
from enrich.evaluate.suites import load_suite
from enrich.testing.fake_server import FakeServer, FakeServerConfig

DOCS = [("1", "shock waves on a flat plate at mach 3"),
        ("2", "heat transfer to a yawed cylinder in hypersonic flow"),
        ("3", "buckling of thin cylindrical shells under axial load"),
        ("4", "lift distribution over a cone cylinder body")]
GENERATION_SUITE = """name: gen
kind: generation
golden: {path: data/docs.jsonl, id_column: doc_id, license: test data}
job: {prompt: cranfield_queries}
generation: {text_field: queries, roundtrip_k: 1, roundtrip_columns: [text]}
bootstrap: {resamples: 100}
thresholds: {schema_valid_rate: {min: 0.9}}
"""
RETRIEVAL_SUITE = """name: ret
kind: retrieval
golden: {path: data/q.jsonl, id_column: query_id, qrels: data/qrels.tsv,
         corpus: data/docs.jsonl, corpus_text_columns: [text], license: test data}
metrics: [ndcg@10, recall@1, mrr]
bootstrap: {resamples: 100}
thresholds: {mrr: {min: %s}}
"""


def enrich(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENRICH_CACHE_DIR": str(cwd / ".cache"), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "enrich.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def _write_docs(project: Path) -> None:
    lines = [json.dumps({"doc_id": d, "title": t[:20], "text": t}) for d, t in DOCS]
    (project / "data" / "docs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _queries_answer(request: LLMRequest) -> LLMResult:
    text = " ".join(m["content"] for m in request.messages)  # re-asks append messages
    doc = next((d for d, t in DOCS if t in text), "")
    queries = {"1": ["shock waves mach", "shock waves mach"], "2": ["yawed cylinder heat"],
               "3": ["lift on wings"]}.get(doc)
    if queries is None:
        return LLMResult(request, content='{"queries": []}')  # invalid: min 1 query
    return LLMResult(request, content=orjson.dumps({"queries": queries}).decode())


def test_generation_suite_measures_validity_duplicates_and_round_trip(project: Path) -> None:
    from fakes import FakeBackend

    _write_docs(project)
    (project / "eval" / "suites").mkdir(parents=True)
    path = project / "eval" / "suites" / "gen.yaml"
    path.write_text(GENERATION_SUITE, encoding="utf-8")
    scored = evaluate_suite(load_suite(path), project / "e.duckdb",
                            backend_factory=lambda j, p: FakeBackend(_queries_answer))
    metrics = {k: v.value for k, v in scored.result.metrics.items()}
    assert metrics["schema_valid_rate"] == 0.75 and metrics["failure_rate"] == 0.25
    assert metrics["duplicate_rate"] == 0.25  # 1 of 4 queries repeats another
    assert metrics["roundtrip"] == 0.75  # "lift on wings" finds doc 4, not its own doc 3
    assert metrics["mean_words"] == 3.0
    assert not scored.result.passed  # schema_valid_rate 0.75 < 0.9
    report = write_report(project / "gen.md", [scored.result])
    assert "schema_valid_rate" in report.read_text()


def test_eval_run_cli_on_a_retrieval_suite_with_reports(project: Path) -> None:
    _write_docs(project)
    (project / "data" / "q.jsonl").write_text(
        '{"query_id": "q1", "text": "shock waves"}\n{"query_id": "q2", "text": "cone lift"}\n')
    (project / "data" / "qrels.tsv").write_text("query_id\tdoc_id\tgain\nq1\t1\t4\nq2\t4\t3\n"
                                                "q2\t3\t1\n")
    (project / "eval" / "suites").mkdir(parents=True)
    (project / "eval" / "suites" / "ret.yaml").write_text(RETRIEVAL_SUITE % "0.5")
    result = enrich("eval", "run", "ret", "--report", "r.html", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "mrr" in result.stdout and "1.000 [" in result.stdout and "bm25" in result.stdout
    html = (project / "r.html").read_text()
    assert "<svg" in html or "vegaEmbed" in html
    saved = load_results(project / "eval" / "results")
    assert [r.system for r in saved] == ["bm25"] and saved[0].kind == "retrieval"
    md = enrich("eval", "run", "ret", "--report", "r.md", "--results", "res", cwd=project)
    assert md.returncode == 0 and (project / "r.md").read_text().startswith("# Evaluation: ret")
    (project / "eval" / "suites" / "ret.yaml").write_text(RETRIEVAL_SUITE % "1.01")
    failed = enrich("eval", "run", "ret", "-q", cwd=project)
    assert failed.returncode == 1 and "✗" in failed.stdout


def test_eval_run_cli_labels_over_http_prints_auc_and_kappa(project: Path) -> None:
    write_judge_project(project)
    with FakeServer(FakeServerConfig()) as server:
        args = ("eval", "run", "judge_suite", "--db", "e.duckdb", "--backend", "openai",
                "--base-url", server.url, "--model", "test-model", "-q", "--resamples", "50")
        first = enrich(*args, cwd=project)
        again = enrich(*args, "--report", "judge.html", cwd=project)
        assert server.stats()["requests_total"] == 20  # the second run is all cache hits
    assert first.returncode in (0, 1), first.stderr
    for metric in ("roc_auc", "kappa", "weighted_kappa", "coverage"):
        assert metric in first.stdout
    assert "model test-model (openai)" in first.stdout
    assert "Home Depot" not in first.stdout and "golden data: test data" in first.stdout
    assert again.returncode in (0, 1) and (project / "judge.html").is_file()


def test_eval_cli_errors_are_one_line(project: Path) -> None:
    write_judge_project(project)
    missing = enrich("eval", "run", "nope", cwd=project)
    assert missing.returncode == 2 and "no suite `nope`" in missing.stderr
    assert "Traceback" not in missing.stderr
    different = enrich("eval", "compare", "judge", "item_metadata@current", "--suite",
                       "judge_suite", cwd=project)
    assert different.returncode == 2 and "different prompts" in different.stderr
    listed = enrich("eval", "list", cwd=project)
    assert listed.returncode == 0 and "judge_suite" in listed.stdout


def test_result_json_round_trip_and_report_formats(project: Path, tmp_path: Path) -> None:
    suite = load_suite(write_judge_project(project))
    scored = evaluate_suite(suite, project / "e.duckdb",
                            backend_factory=lambda j, p: judge_backend())
    back = SuiteResult.from_json(scored.result.to_json())
    assert back.metrics["roc_auc"] == scored.result.metrics["roc_auc"]
    assert list(back.tables["roc"].columns) == ["fpr", "tpr", "threshold"]
    html = write_report(tmp_path / "x.html", [back]).read_text()
    assert "ROC curve" in html and "judge@" in html and "test data" in html
    md = write_report(tmp_path / "x.md", [back]).read_text()
    assert "| roc_auc |" in md
    if "![roc]" in md:
        assert (tmp_path / "x_files" / "r0-roc.svg").is_file()
    with pytest.raises(Exception, match="use a .html or .md file"):
        write_report(tmp_path / "x.pdf", [back])
