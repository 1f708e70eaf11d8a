"""Cranfield: synthetic questions → teacher-graded triples → distilled models → human queries.

Every step goes through the product, echoed as it runs:

1. (only with ``--generate``) ``enrich run eval/cranfield/job.yaml``: three questions per
   abstract from the embedded Qwen2.5-Coder-0.5B with the ``synthetic_queries`` task and its
   consistency filter, exported with provenance to ``eval/cranfield/synthetic_queries.parquet``
   (:mod:`cranfield_queries`); without it, the shipped export is used;
2. ``enrich distill data --teacher T``: pairs, hard negatives, and the teacher's score of every
   (query, positive, negative) triple;
3. ``enrich distill biencoder --loss margin-mse`` (GPL) and ``enrich distill crossencoder
   --loss mse``, each gated against its base on the synthetic dev split and the 150 human
   queries (``--eval-qrels``), verdicts in the model cards;
4. the systems on the 150 human dev queries, nDCG@10 with bootstrap intervals → ``--results``.

Usage (from the repository root)::

    .venv/bin/python eval/cranfield/run_eval.py                        # shipped questions
    .venv/bin/python eval/cranfield/run_eval.py --generate             # regenerate (≈ 2 h+)
    .venv/bin/python eval/cranfield/run_eval.py --generate --extend    # only what is missing
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from cranfield_data import Cranfield
from cranfield_queries import SHIPPED, export_queries, read_shipped, write_views
from cranfield_systems import bm25_run, cross_encoder_scores, dense_run, evaluate, reranked, rrf_run

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ENRICH = str(Path(sys.executable).parent / "enrich")
BASE = "all-MiniLM-L6-v2 (base)"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=None, help="Cranfield folder [default: "
                   "$ENRICH_DATA/cranfield if it exists, else data/cranfield]")
    p.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    p.add_argument("--queries", type=Path, default=SHIPPED, help="exported questions")
    p.add_argument("--generate", action="store_true",
                   help="regenerate the questions with the LLM and re-export them")
    p.add_argument("--max-docs", type=int, default=None, help="with --generate: only N docs")
    p.add_argument("--extend", action="store_true",
                   help="with --generate: only the abstracts the shipped file lacks, then "
                        "export the shipped questions and the new run's together")
    p.add_argument("--llm", default=None, help="with --generate: override the job's model")
    p.add_argument("--teacher", default="zsum", help="teacher of the triples (see "
                   "enrich.distill.teachers)")
    p.add_argument("--negatives", type=int, default=3, help="mined negatives per pair")
    p.add_argument("--bi-epochs", type=float, default=1.0)
    p.add_argument("--bi-lr", type=float, default=2e-5)
    p.add_argument("--bi-loss", default="margin-mse")
    p.add_argument("--bi-max-seq-length", type=int, default=256)
    p.add_argument("--bi-max-steps", type=int, default=None)
    p.add_argument("--ce-epochs", type=float, default=1.0)
    p.add_argument("--ce-lr", type=float, default=5e-5)
    p.add_argument("--ce-loss", default="mse")
    p.add_argument("--ce-max-length", type=int, default=256)
    p.add_argument("--ce-max-steps", type=int, default=None)
    p.add_argument("--ce-layers", type=int, default=None,
                   help="distil a cross-encoder with only the first N layers")
    p.add_argument("--ce-base", default=None, help="cross-encoder starting point "
                   "[default: all-MiniLM-L6-v2]; `bi` = the distilled bi-encoder")
    p.add_argument("--ce-head-lr", type=float, default=None,
                   help="learning rate of the cross-encoder's new head and pooler")
    p.add_argument("--ce-int8", action="store_true", help="rerank with int8 linear layers")
    p.add_argument("--rerank-depth", type=int, default=30)
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--only-ce", action="store_true", help="retrain only the cross-encoder")
    p.add_argument("--reuse-data", action="store_true", help="keep WORK/data (skip mining)")
    p.add_argument("--results", type=Path, default=HERE / "results.md")
    return p.parse_args()


def sh(command: list[str]) -> float:
    """Run an enrich command, echoing it, failing loudly; returns the seconds it took."""
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    print(f"  ({seconds:.0f} s)", flush=True)
    return seconds


def generate(args: argparse.Namespace, cran: Cranfield) -> None:
    """Run the generation job through the engine and export its questions."""
    store = args.work / "cranfield.duckdb"
    earlier = read_shipped(args.queries) if args.extend and args.queries.is_file() else None
    skip = set(earlier["item_id"].astype(str)) if earlier is not None else set()
    cran.write_job_source(args.work / "corpus.jsonl", skip=skip)
    command = [ENRICH, "run", "eval/cranfield/job.yaml", "--db", str(store), "--source",
               str(args.work / "corpus.jsonl")]
    command += ["--limit", str(args.max_docs)] if args.max_docs else []
    sh(command + (["--model", args.llm] if args.llm else []))
    frame = export_queries(store, args.queries, cran.docs, earlier=earlier)
    print(f"exported {len(frame):,} questions ({int(frame['kept'].sum()):,} kept) for "
          f"{frame['item_id'].nunique():,} abstracts to {args.queries}", flush=True)


def human_files(cran: Cranfield, work: Path) -> list[str]:
    """The 150 human queries as gate files: ``--eval-qrels/--eval-queries/--eval-corpus``."""
    import pandas as pd

    folder = work / "human"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"query_id": list(cran.queries), "text": list(cran.queries.values())}
                 ).to_json(folder / "queries.jsonl", orient="records", lines=True)
    rows = [(q, d, g) for q, docs in cran.qrels.items() for d, g in docs.items()]
    pd.DataFrame(rows, columns=["query_id", "doc_id", "gain"]).to_csv(
        folder / "qrels.tsv", sep="\t", index=False)
    return ["--eval-qrels", str(folder / "qrels.tsv"), "--eval-queries",
            str(folder / "queries.jsonl"), "--eval-corpus", str(work / "corpus_items.parquet")]


def train(args: argparse.Namespace, cran: Cranfield) -> dict[str, float]:
    """``enrich distill data / biencoder / crossencoder``; returns the seconds of each."""
    import pandas as pd

    corpus = args.work / "corpus_items.parquet"
    pd.DataFrame({"item_id": list(cran.docs), "text": list(cran.docs.values())}
                 ).to_parquet(corpus, index=False)
    gate = human_files(cran, args.work)
    seconds = {}
    if not (args.reuse_data and (args.work / "data" / "manifest.json").is_file()):
        seconds["data"] = sh([ENRICH, "distill", "data", "--db", str(args.work / "views.duckdb"),
                              "--out", str(args.work / "data"), "--corpus", str(corpus),
                              "--negatives", str(args.negatives), "--teacher", args.teacher,
                              "--vector-cache", str(args.work / "vectors"), "--quiet"])
    models = args.work / "models"
    if not args.only_ce:
        seconds["biencoder"] = sh(
            [ENRICH, "distill", "biencoder", "--data", str(args.work / "data"), "--out",
             str(models / "bi"), "--epochs", str(args.bi_epochs), "--lr", str(args.bi_lr),
             "--loss", args.bi_loss, "--negatives", str(args.negatives), "--max-seq-length",
             str(args.bi_max_seq_length), "--quiet", *gate]
            + ["--vector-cache", str(args.work / "vectors")]
            + (["--max-steps", str(args.bi_max_steps)] if args.bi_max_steps else []))
    base = str(models / "bi") if args.ce_base == "bi" else args.ce_base
    seconds["crossencoder"] = sh(
        [ENRICH, "distill", "crossencoder", "--data", str(args.work / "data"), "--out",
         str(models / "ce"), "--epochs", str(args.ce_epochs), "--lr", str(args.ce_lr),
         "--loss", args.ce_loss, "--negatives", str(args.negatives), "--max-length",
         str(args.ce_max_length), "--gate-first-stage", str(models / "bi"),
         "--gate-depth", str(args.rerank_depth), "--quiet", *gate,
         "--vector-cache", str(args.work / "vectors")]
        + (["--layers", str(args.ce_layers)] if args.ce_layers else [])
        + (["--base-model", base] if base else [])
        + (["--max-steps", str(args.ce_max_steps)] if args.ce_max_steps else [])
        + (["--head-lr", str(args.ce_head_lr)] if args.ce_head_lr else []))
    return seconds


def score_systems(args: argparse.Namespace, cran: Cranfield) -> dict[str, dict]:
    """Every system on the 150 human queries (nDCG@10 with intervals, gain over base)."""
    from cranfield_systems import teacher_run

    from enrich.distill.gate import recommended_blend

    models = args.work / "models"
    vectors = args.work / "vectors"
    bm25 = bm25_run(cran.docs, cran.queries)
    base = dense_run(cran.docs, cran.queries, None, cache=vectors)
    bi = dense_run(cran.docs, cran.queries, str(models / "bi"), cache=vectors)
    scores = cross_encoder_scores(models / "ce", cran.docs, cran.queries, [bi],
                                  args.rerank_depth,
                                  args.work / f"ce_scores-{_stamp(models / 'ce')}"
                                  f"{'-int8' if args.ce_int8 else ''}.parquet",
                                  args.ce_max_length, int8=args.ce_int8)
    blend = recommended_blend(models / "ce")
    runs = {"BM25": bm25, BASE: base, "RRF(BM25, base) — untrained": rrf_run(bm25, base),
            f"teacher {args.teacher} reranking base top {args.rerank_depth}": teacher_run(
                args.teacher, cran, base, args.rerank_depth, vectors),
            "distilled bi-encoder": bi,
            "RRF(BM25, distilled bi-encoder)": rrf_run(bm25, bi),
            f"distilled bi-encoder + cross-encoder (top {args.rerank_depth})": reranked(
                bi, scores, args.rerank_depth)}
    if blend is not None:
        runs[f"distilled bi-encoder + cross-encoder, blend {blend:g} (dev)"] = reranked(
            bi, scores, args.rerank_depth, blend)
    return evaluate(cran.qrels, runs, base=BASE)


def _stamp(model_dir: Path) -> str:
    """Identifies one trained model (cached scores of an older model are never reused)."""
    return str(int((model_dir / "model.safetensors").stat().st_mtime))


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cran = Cranfield.load(args.data)
    if args.generate:
        generate(args, cran)
    views = write_views(read_shipped(args.queries), args.work / "views.duckdb", cran.docs)
    print(json.dumps(views), flush=True)
    seconds = {} if args.skip_train else train(args, cran)
    results = score_systems(args, cran)
    from cranfield_report import write_report

    seconds["total"] = time.perf_counter() - started
    write_report(args, views, results, args.work, seconds, (len(cran.queries), len(cran.docs)))
    print(args.results.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
