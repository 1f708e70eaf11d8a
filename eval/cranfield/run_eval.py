"""Cranfield: generate synthetic queries with the embedded LLM, filter, distil, evaluate.

Every LLM call goes through the engine (``enrich run eval/cranfield/job.yaml``), every model
through the ``enrich distill`` commands; this script runs them in order, then scores five
systems on the 150 human development queries with ranx and writes ``results.md``.

Usage (from the repository root)::

    .venv/bin/python eval/cranfield/run_eval.py --max-docs 189       # what results.md reports
    .venv/bin/python eval/cranfield/run_eval.py --max-docs 1398      # the whole collection

A larger ``--max-docs`` reuses every cached generation of a smaller one. ``--skip-generate``
and ``--skip-train`` rerun only the later steps.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from cranfield_data import DEFAULT_DATA, Cranfield
from cranfield_queries import filter_report, judge, latest_run, read_generated, write_views
from cranfield_systems import (
    bm25_run,
    cross_encoder_scores,
    dense_run,
    evaluate,
    reranked,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ENRICH = str(Path(sys.executable).parent / "enrich")
JOB_NAME = "cranfield-queries"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-docs", type=int, default=189, help="documents that get queries")
    p.add_argument("--llm", default=None, help="override the job's model (e.g. smollm2-135m)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Cranfield folder")
    p.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    p.add_argument("--bm25-top-k", type=int, default=20, help="round-trip filter depth")
    p.add_argument("--bi-epochs", type=float, default=1.0)
    p.add_argument("--bi-lr", type=float, default=5e-5)
    p.add_argument("--bi-negatives", type=int, default=1)
    p.add_argument("--bi-max-seq-length", type=int, default=128)
    p.add_argument("--ce-epochs", type=float, default=1.0)
    p.add_argument("--ce-negatives", type=int, default=3)
    p.add_argument("--ce-max-length", type=int, default=128)
    p.add_argument("--ce-head-lr", type=float, default=0.0)
    p.add_argument("--ce-layers", type=int, default=None,
                   help="distil a cross-encoder with only the base model's first N layers")
    p.add_argument("--ce-int8", action="store_true", help="rerank with int8 linear layers")
    p.add_argument("--rerank-depth", type=int, default=30)
    p.add_argument("--blend", type=float, default=0.5,
                   help="cross-encoder weight of the interpolated systems (fixed, not tuned)")
    p.add_argument("--skip-generate", action="store_true")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--only-ce", action="store_true",
                   help="retrain only the cross-encoder (e.g. with another --ce-layers)")
    p.add_argument("--reuse-data", action="store_true",
                   help="keep work/data from an earlier run (skip mining)")
    p.add_argument("--results", type=Path, default=HERE / "results.md")
    return p.parse_args()


def sh(command: list[str]) -> None:
    """Run an enrich command, echoing it, failing loudly."""
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


def generate(args: argparse.Namespace, cran: Cranfield) -> None:
    cran.write_job_source(args.work / "corpus.jsonl")
    command = [ENRICH, "run", "eval/cranfield/job.yaml", "--db",
               str(args.work / "cranfield.duckdb"), "--source", str(args.work / "corpus.jsonl"),
               "--limit", str(args.max_docs)]
    sh(command + (["--model", args.llm] if args.llm else []))


def build_views(args: argparse.Namespace, cran: Cranfield) -> dict:
    engine_db = args.work / "cranfield.duckdb"
    run_id = latest_run(engine_db, JOB_NAME)
    generated = read_generated(engine_db, run_id)
    judged = judge(generated, cran.docs, args.bm25_top_k)
    write_views(engine_db, args.work / "views.duckdb", run_id, judged, cran.docs)
    report = {"run_id": run_id, "documents": len({q.doc_id for q in generated}),
              "questions": len(generated), "filter": filter_report(judged)}
    print(json.dumps(report), flush=True)
    return report


def train(args: argparse.Namespace, cran: Cranfield) -> None:
    import pandas as pd

    corpus = args.work / "corpus_items.parquet"
    pd.DataFrame({"item_id": list(cran.docs), "text": list(cran.docs.values())}
                 ).to_parquet(corpus, index=False)
    if not (args.reuse_data and (args.work / "data" / "manifest.json").is_file()):
        sh([ENRICH, "distill", "data", "--db", str(args.work / "views.duckdb"), "--out",
            str(args.work / "data"), "--corpus", str(corpus), "--quiet"])
    if not args.only_ce:
        sh([ENRICH, "distill", "biencoder", "--data", str(args.work / "data"), "--out",
            str(args.work / "models/bi"), "--epochs", str(args.bi_epochs), "--lr",
            str(args.bi_lr), "--negatives", str(args.bi_negatives), "--max-seq-length",
            str(args.bi_max_seq_length)])
    sh([ENRICH, "distill", "crossencoder", "--data", str(args.work / "data"), "--out",
        str(args.work / "models/ce"), "--epochs", str(args.ce_epochs), "--max-length",
        str(args.ce_max_length), "--negatives", str(args.ce_negatives),
        "--head-lr", str(args.ce_head_lr)]
       + (["--layers", str(args.ce_layers)] if args.ce_layers else []))


def score_systems(args: argparse.Namespace, cran: Cranfield) -> dict[str, dict]:
    models = args.work / "models"
    bi_index = args.work / f"index_bi-{_stamp(models / 'bi')}"  # a retrained model re-indexes
    first = {"BM25": bm25_run(cran.docs, cran.queries),
             "all-MiniLM-L6-v2 (base)": dense_run(cran.docs, cran.queries, None,
                                                  cache=args.work / "index_base"),
             "distilled bi-encoder": dense_run(cran.docs, cran.queries, str(models / "bi"),
                                               cache=bi_index)}
    stages = {"BM25 + distilled cross-encoder": "BM25",
              "distilled bi-encoder + distilled cross-encoder": "distilled bi-encoder"}
    scores = cross_encoder_scores(models / "ce", cran.docs, cran.queries,
                                  [first[s] for s in stages.values()], args.rerank_depth,
                                  args.work / f"ce_scores-{_stamp(models / 'ce')}"
                                  f"{'-int8' if args.ce_int8 else ''}.parquet",
                                  args.ce_max_length, int8=args.ce_int8)
    runs = dict(first)
    runs.update({name: reranked(first[stage], scores, args.rerank_depth)
                 for name, stage in stages.items()})
    runs.update({f"{name}, blend {args.blend:g}": reranked(first[stage], scores,
                                                           args.rerank_depth, args.blend)
                 for name, stage in stages.items()})
    return evaluate(cran.qrels, runs)


def _stamp(model_dir: Path) -> str:
    """Identifies one trained model (cached scores of an older model are never reused)."""
    return str(int((model_dir / "model.safetensors").stat().st_mtime))


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cran = Cranfield.load(args.data)
    if not args.skip_generate:
        generate(args, cran)
    views = build_views(args, cran)
    if not args.skip_train:
        train(args, cran)
    results = score_systems(args, cran)
    from cranfield_report import write_report

    write_report(args, views, results, args.work)
    print(args.results.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
