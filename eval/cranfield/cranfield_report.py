"""Write ``results.md`` / ``results.json`` for the Cranfield evaluation."""

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from enrich.evaluate.bootstrap import Estimate, format_estimate


def write_report(args: argparse.Namespace, views: dict, results: dict[str, dict],
                 work: Path, seconds: dict[str, float], counts: tuple[int, int]) -> None:
    """The table, the command that reproduced it, the gates and where the data came from."""
    facts = {name: _json(work / "models" / name / "enrich_distill.json")
             for name in ("bi", "ce")}
    manifest = _json(work / "data" / "manifest.json")
    command = ".venv/bin/python eval/cranfield/run_eval.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    lines = ["# Cranfield: teacher-distilled bi-encoder and cross-encoder vs their bases", "",
             f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by", "", "```", command,
             "```", "", f"{counts[0]:,} human development queries, {counts[1]:,} abstracts, "
             "graded qrels (gain = 5 − code), pytrec_eval; [95% bootstrap interval over "
             "queries]; gain = paired difference with base MiniLM. Rerank depth "
             f"{args.rerank_depth}. Wall time: " + ", ".join(
                 f"{k} {v / 60:.1f} min" for k, v in seconds.items()), "",
             "| system | nDCG@10 | gain vs base | recall@100 | MRR@10 |",
             "| --- | --- | --- | --- | --- |"]
    for name, m in results.items():
        gain = format_estimate(Estimate.from_dict(m["gain"])) if "gain" in m else "—"
        lines.append(f"| {name} | {format_estimate(Estimate.from_dict(m['ndcg@10_ci']))} | "
                     f"{gain} | {m['recall@100']:.3f} | {m['mrr@10']:.3f} |")
    lines += ["", "## Gain gates (model cards)", ""]
    for name, fact in facts.items():
        gate = fact.get("gate") or {}
        training = fact.get("training") or {}
        lines.append(f"- {name}: **{gate.get('verdict', 'not measured')}** than "
                     f"{gate.get('base', 'its base')} ({training.get('steps', '?')} steps, "
                     f"{training.get('seconds', '?')} s)")
        from enrich.distill.gate import describe

        lines += [f"  - {line}" for line in describe(gate)]
    lines += ["", "## Where the training data came from", "",
              f"- questions: `{_rel(args.queries)}`, generation run `{views['run_id']}`: "
              f"{views['documents']:,} abstracts, {views['questions']:,} questions, "
              f"{views['kept']:,} kept by the synthetic_queries filter ("
              + ", ".join(f"{k}: {v:,}" for k, v in views["filter"].items()) + ")"]
    for view, runs in manifest.get("sources", {}).items():
        for run in runs:
            lines.append(f"- {view}: `{run['run_id']}` · prompt `{run.get('prompt_name')}@"
                         f"{run.get('prompt_version')}` · model `{run.get('model')}`")
    teacher = (manifest.get("mining") or {}).get("teacher") or {}
    if teacher:
        lines.append(f"- teacher `{teacher.get('teacher')}` graded {teacher.get('triples'):,} "
                     f"triples; it prefers the mined negative in {teacher.get('inverted'):,} "
                     f"of them; margin scale {teacher.get('margin_scale')}")
    lines.append("- distillation data: " + "; ".join(
        f"{k} " + ", ".join(f"{s} {n:,}" for s, n in v.items())
        for k, v in manifest.get("counts", {}).items() if v))  # (empty tables left out)
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dump = {"command": command, "results": results, "views": views, "seconds": seconds,
            "gates": {k: v.get("gate") for k, v in facts.items()},
            "training": {k: {"config": v.get("config"), "train_rows": v.get("train_rows"),
                             "training": v.get("training")} for k, v in facts.items()}}
    args.results.with_suffix(".json").write_text(json.dumps(dump, indent=2, default=str),
                                                 encoding="utf-8")


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return Path(path).name


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
