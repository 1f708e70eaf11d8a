"""Render the conformance suite's results as ``docs/backend-features.md``.

Usage (after the suite ran, e.g. ``make test`` or ``pytest tests/conformance``)::

    .venv/bin/python tests/conformance/feature_table.py            # writes docs/backend-features.md
    .venv/bin/python tests/conformance/feature_table.py --results results.json --out -

Every cell comes from a test's record (see ``outcomes.py``): ✅ the check passed, ❌ it failed,
➖ skipped, and a blank where the check does not apply to that server kind (e.g. injected 429s
need the fake server).
"""

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outcomes import load_results, results_path
from targets import KINDS

ICONS = {"passed": "✅", "failed": "❌", "skipped": "➖", "error": "❌"}
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "backend-features.md"


@dataclass(frozen=True)
class Row:
    """One feature row: the records of ``check`` (with ``variant``, or all variants)."""

    label: str
    check: str
    variant: str | None = None
    detail: bool = False  # one record per cell: show its observed text, not a count


ROWS: tuple[Row, ...] = (
    Row("`structured_outputs` (vLLM ≥ 0.10.2)", "test_structured_output_form",
        "structured_outputs (vLLM >= 0.10.2)", True),
    Row("`guided_json` (vLLM < 0.12)", "test_structured_output_form",
        "guided_json (vLLM < 0.12)", True),
    Row("`response_format` json_schema (OpenAI)", "test_structured_output_form",
        "response_format json_schema (OpenAI)", True),
    Row("`response_format` json_object + schema (llama.cpp)", "test_structured_output_form",
        "response_format json_object + schema (llama.cpp)", True),
    Row("5 task jobs finish", "test_job_finishes"),
    Row("schema sent in the dialect's form; answers are JSON",
        "test_structured_output_requested_and_honoured"),
    Row("outputs validate (at the bar)", "test_outputs_validate"),
    Row("token counts stored", "test_tokens_counted"),
    Row("token logprobs (jobs that ask)", "test_logprobs_where_the_job_asks"),
    Row("logprobs on a raw request", "test_logprobs_returned", None, True),
    Row("prompt logprobs (`prompt_logprobs`)", "test_prompt_logprobs_not_offered", None, True),
    Row("wrong model name → exit 2, one line", "test_wrong_model_name"),
    Row("wrong API key (401) → exit 2, one line", "test_wrong_api_key_401"),
    Row("base URL without /v1 (404) → exit 2, says /v1", "test_base_url_without_v1_404"),
    Row("HTTP 500 → retried", "test_http_500_is_retried"),
    Row("HTTP 429 → waits `Retry-After`", "test_http_429_honours_retry_after"),
    Row("server killed mid-run → interrupted; rerun finishes",
        "test_server_killed_mid_run"),
    Row("server killed mid-run → interrupted; rerun finishes (fake)",
        "test_fake_server_killed_mid_run"),
    Row("`--server vllm` → exit 2 naming llamacpp-server",
        "test_wrong_dialect_names_llamacpp_server", "vllm"),
    Row("`--server openai` → exit 2 naming llamacpp-server",
        "test_wrong_dialect_names_llamacpp_server", "openai"),
)


_VOLATILE = ((re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
             (re.compile(r"'127\.0\.0\.1', \d+"), "'127.0.0.1', PORT"),
             (re.compile(r"run-\d{8}-\d{6}-[0-9a-f]+"), "RUN_ID"),
             (re.compile(r"/tmp/\S+/"), "…/"))


def _escape(text: Any) -> str:
    """A table cell: one line, pipes escaped, ports, run ids and temp paths made stable."""
    cell = str(text or "").replace("|", "\\|").replace("\n", " ").strip()
    for pattern, replacement in _VOLATILE:
        cell = pattern.sub(replacement, cell)
    return cell


def _cell(records: list[dict[str, Any]], detail: bool) -> str:
    if not records:
        return ""
    if detail and len(records) == 1:
        record = records[0]
        return f"{ICONS.get(record['outcome'], '?')} {_escape(record.get('observed'))[:120]}"
    passed = sum(1 for r in records if r["outcome"] == "passed")
    if all(r["outcome"] == "skipped" for r in records):
        icon = ICONS["skipped"]
    else:
        icon = ICONS["passed"] if passed == len(records) else ICONS["failed"]
    return f"{icon} {passed}/{len(records)}"


def _matching(records: Iterable[dict[str, Any]], row: Row, server: str) -> list[dict[str, Any]]:
    return [r for r in records if r["check"] == row.check and r["server"] == server
            and (row.variant is None or r.get("variant") == row.variant)]


def summary_table(records: list[dict[str, Any]]) -> list[str]:
    """The features × server kinds table, as Markdown lines."""
    servers = list(KINDS)
    lines = ["| feature | " + " | ".join(KINDS[s].label for s in servers) + " |",
             "| --- |" + " --- |" * len(servers)]
    for row in ROWS:
        cells = [_cell(_matching(records, row, s), row.detail) for s in servers]
        if any(cells):
            lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return lines


def detail_table(records: list[dict[str, Any]]) -> list[str]:
    """Every record: what each check observed, and why it failed."""
    lines = ["| check | server | variant | result | seconds | observed |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in sorted(records, key=lambda r: (r["check"], str(r["server"]), str(r.get("variant")))):
        result = ICONS.get(r["outcome"], "?")
        if r["outcome"] != "passed" and r.get("message"):
            result += " " + _escape(r["message"])[:200]
        seconds = f"{r['duration_s']:.0f}" if r.get("duration_s") is not None else ""
        lines.append(f"| `{r['check'].removeprefix('test_')}` | {r['server'] or ''} | "
                     f"{_escape(r.get('variant'))} | {result} | {seconds} | "
                     f"{_escape(r.get('observed'))} |")
    return lines


def render(results: dict[str, Any]) -> str:
    """The whole Markdown page for a results file's content."""
    meta, records = results["meta"], list(results["records"].values())
    machine = {"cpu_count", "load_average"}
    versions = ", ".join(f"{k} {v}" for k, v in sorted(meta.items())
                         if k not in ("written_at", "model", *machine) and v)
    head = [
        "# Backend features, as measured by the conformance suite",
        "",
        "Generated by `tests/conformance/feature_table.py` from the results of "
        "`tests/conformance/test_conformance_*.py` (do not edit by hand; see "
        "[backends.md](backends.md) for the recipes). Results written "
        f"{meta.get('written_at', '?')}; model {meta.get('model', '?')}; {versions}.",
        "",
        "✅ passed · ❌ failed · ➖ skipped · blank: does not apply (injected faults need the fake "
        "server; the wrong-dialect checks need the real one). `n/m`: checks passed of those run "
        "(one per task job, or per case). Seconds are wall time on the machine that ran the "
        f"suite ({meta.get('cpu_count', '?')} cores, load average {meta.get('load_average', '?')} "
        "at the end of the session): the real server's numbers grow with the machine's load.",
        "",
    ]
    body = ["## Summary", "", *summary_table(records), "", "## Every check", "",
            *detail_table(records), ""]
    return "\n".join(head + body)


def main(argv: list[str] | None = None) -> int:
    """Write the page; exit code 2 when there are no results to render."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=results_path())
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output file, or - for stdout")
    args = parser.parse_args(argv)
    results = load_results(args.results)
    if not results["records"]:
        print(f"error: no conformance results in {args.results} — run "
              "`.venv/bin/python -m pytest tests/conformance` first", file=sys.stderr)
        return 2
    page = render(results)
    if args.out == "-":
        sys.stdout.write(page)
    else:
        Path(args.out).write_text(page, encoding="utf-8")
        print(f"wrote {args.out} ({len(results['records'])} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
