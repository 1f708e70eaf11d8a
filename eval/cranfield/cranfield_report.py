"""Write ``results.md`` / ``results.json`` for the Cranfield evaluation."""

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

BASE = "all-MiniLM-L6-v2 (base)"


def write_report(args: argparse.Namespace, views: dict, results: dict[str, dict],
                 work: Path) -> None:
    """The table, the command that reproduced it, and where every number came from."""
    facts = {name: _facts(work / "models" / name) for name in ("bi", "ce")}
    manifest = _json(work / "data" / "manifest.json")
    command = ".venv/bin/python eval/cranfield/run_eval.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    lines = ["# Cranfield: distilled bi-encoder and cross-encoder vs BM25 and base MiniLM", "",
             f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by", "", "```",
             command, "```", "",
             "150 development queries, 1,398 non-empty abstracts, graded qrels "
             "(gain = 5 − code for codes 1–4), ranx. Reranking depth "
             f"{args.rerank_depth} (recall@100 of a reranked run is its first stage's).", "",
             "| system | nDCG@10 | recall@100 | MRR@10 |", "| --- | --- | --- | --- |"]
    for name, metrics in results.items():
        lines.append(f"| {name} | {metrics['ndcg@10']:.3f} | {metrics['recall@100']:.3f} | "
                     f"{metrics['mrr@10']:.3f} |")
    base, bi = results.get(BASE, {}), results.get("distilled bi-encoder", {})
    if base and bi:
        delta = 100 * (bi["ndcg@10"] - base["ndcg@10"])
        lines += ["", f"Distilled bi-encoder vs base MiniLM: nDCG@10 {delta:+.1f} points."]
    lines += ["", "## Where the training data came from", "",
              f"- generation run `{views['run_id']}` (engine store "
              f"`{work / 'cranfield.duckdb'}`): {views['documents']:,} documents, "
              f"{views['questions']:,} questions",
              f"- filter (BM25 round trip top-{args.bm25_top_k}, length, copies, duplicates): "
              + ", ".join(f"{k}: {v:,}" for k, v in views["filter"].items())]
    for view, runs in manifest.get("sources", {}).items():
        for run in runs:
            lines.append(f"- {view}: `{run['run_id']}` · prompt `{run.get('prompt_name')}@"
                         f"{run.get('prompt_version')}` · model `{run.get('model')}`")
    lines.append("- distillation data: " + "; ".join(
        f"{k} " + ", ".join(f"{s} {n:,}" for s, n in v.items())
        for k, v in manifest.get("counts", {}).items()))
    lines += ["", "## Held-out synthetic queries (dev split of the distillation data)", "",
              "| model | metric | base | distilled |", "| --- | --- | --- | --- |"]
    for name, fact in facts.items():
        for metric, after in fact.get("metrics_after", {}).items():
            before = fact.get("metrics_before", {}).get(metric, float("nan"))
            lines.append(f"| {name} | {metric} | {before:.3f} | {after:.3f} |")
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dump = {"command": command, "results": results, "views": views,
            "training": {k: {"config": v.get("config"), "train_rows": v.get("train_rows")}
                         for k, v in facts.items()}}
    args.results.with_suffix(".json").write_text(json.dumps(dump, indent=2, default=str),
                                                 encoding="utf-8")


def _facts(model_dir: Path) -> dict:
    return _json(model_dir / "enrich_distill.json")


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
