"""Home Depot: a cross-encoder taught by LLM labels vs the base model, against human ratings.

Steps (every LLM call through the engine, every model through ``enrich distill``):

1. split the development pairs by query into a training pool and an evaluation pool;
2. label ``--train-pairs`` training pairs with the embedded LLM
   (``enrich run eval/homedepot/job.yaml``: bad_match task, short label-only prompt, P(bad)
   from the label token's log-probabilities) → the store's ``match_labels`` view;
3. ``enrich distill data`` + ``enrich distill crossencoder`` on those labels;
4. the same training on the human ratings of the same pairs (a reference: what the pipeline
   does with good labels);
5. the teachers (``enrich.distill.teachers``: BM25, the base bi-encoder, the LLM's query
   likelihood and its PMI form, and combinations) measured as AUC of bad vs good on the golden
   set and on evaluation pairs, then a cross-encoder trained on the chosen teacher's scores
   of the training pairs (soft labels instead of 0/1) with ``enrich distill``;
6. score the evaluation pool's pairs with every system and compare with the human ratings.

Usage (from the repository root)::

    .venv/bin/python eval/homedepot/run_eval.py --train-pairs 600 --eval-queries 500
    .venv/bin/python eval/homedepot/run_eval.py --skip-label --teachers-only   # teacher AUCs
"""

import argparse
import json
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from hd_data import homedepot_file, load_split, teacher_agreement, write_human_store
from hd_metrics import (
    agreement,
    auc_bad,
    cosine_scores,
    cross_encoder_scores,
    overlap_scores,
    random_ndcg,
    teacher_scores,
)

from enrich.evaluate.bootstrap import Estimate, format_estimate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ENRICH = str(Path(sys.executable).parent / "enrich")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train-pairs", type=int, default=600)
    p.add_argument("--eval-queries", type=int, default=500)
    p.add_argument("--data", type=Path, default=None, help="dev.csv.gz [default: "
                   "$ENRICH_DATA/home-depot-search-relevance/dev.csv.gz]")
    p.add_argument("--work", type=Path, default=HERE / "workdir",
                   help="scratch folder (Kaggle data: never commit it)")
    p.add_argument("--llm", default=None, help="override the job's model")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--skip-label", action="store_true")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--results", type=Path, default=HERE / "results.md")
    p.add_argument("--teachers", nargs="+", default=["bm25", "biencoder", "ql", "ql-pmi",
                                                     "zsum:biencoder,ql-pmi",
                                                     "rrf:biencoder,ql-pmi"])
    p.add_argument("--teacher", default="zsum:biencoder,ql-pmi",
                   help="teacher whose scores train the teacher cross-encoder")
    p.add_argument("--teacher-llm", default="smollm2-135m", help="LLM of ql / ql-pmi")
    p.add_argument("--teacher-eval-pairs", type=int, default=400,
                   help="evaluation pairs (whole queries) the teachers are measured on")
    p.add_argument("--golden", type=Path, default=ROOT / "eval/golden/homedepot_bad_match.csv")
    p.add_argument("--ce-args", default="", help="more `enrich distill crossencoder` "
                   "options for the teacher cross-encoder, e.g. \"--layers 2 --head-lr 1e-3\"")
    p.add_argument("--teachers-only", action="store_true",
                   help="measure the teachers and train the teacher cross-encoder only")
    return p.parse_args()


def sh(command: list[str]) -> None:
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


def train_models(args: argparse.Namespace, train: pd.DataFrame, teacher: pd.DataFrame,
                 run_id: str) -> None:
    human_db = args.work / "human.duckdb"
    write_human_store(human_db, train, teacher["pair_id"].tolist())
    for name, db, runs in (("llm", args.work / "homedepot.duckdb", ["--run", run_id]),
                           ("human", human_db, [])):
        sh([ENRICH, "distill", "data", "--db", str(db), "--out", str(args.work / f"data_{name}"),
            "--quiet", *runs])
        sh([ENRICH, "distill", "crossencoder", "--data", str(args.work / f"data_{name}"),
            "--out", str(args.work / f"models/ce_{name}"), "--epochs", str(args.epochs),
            "--max-length", str(args.max_length), "--lr", "5e-5"])


def whole_queries(pairs: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first pairs of ``pairs`` up to ``n``, whole queries only."""
    ends = pairs.groupby("search_term", sort=False).size().cumsum()
    keep = set(ends[ends <= max(n, int(ends.iloc[0]))].index)
    return pairs[pairs["search_term"].isin(keep)].reset_index(drop=True)


def measure_teachers(args: argparse.Namespace, sets: dict[str, pd.DataFrame], llm: object
                     ) -> dict[str, dict]:
    """AUC (bad) with an interval of every teacher on every set."""
    table: dict[str, dict] = {}
    for name in args.teachers:
        table[name] = {}
        for label, pairs in sets.items():
            started = time.perf_counter()
            table[name][label] = auc_bad(pairs, teacher_scores(pairs, name, llm))
            print(f"teacher {name} on {label}: AUC {table[name][label]['value']:.3f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    return table


def train_teacher_model(args: argparse.Namespace, train: pd.DataFrame, llm: object) -> None:
    """A cross-encoder trained on the teacher's scores of the training pairs (soft labels:
    P(bad) = 1 − sigmoid(standardised score)) through ``enrich distill``."""
    import numpy as np

    scores = teacher_scores(train, args.teacher, llm)
    z = (scores - scores.mean()) / (scores.std() or 1.0)
    graded = train.assign(relevance=1.0 + 2.0 / (1.0 + np.exp(-z)))  # P(bad) = 1 − sigmoid(z)
    db = args.work / "teacher.duckdb"
    write_human_store(db, graded, graded["id"].tolist())
    sh([ENRICH, "distill", "data", "--db", str(db), "--out", str(args.work / "data_teacher"),
        "--quiet"])
    sh([ENRICH, "distill", "crossencoder", "--data", str(args.work / "data_teacher"),
        "--out", str(args.work / "models/ce_teacher"), "--epochs", str(args.epochs),
        "--max-length", str(args.max_length), "--lr", "5e-5", "--quiet",
        *shlex.split(args.ce_args)])


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from enrich.distill.llm_teacher import LLMTeacher

    train, evaluation = load_split(homedepot_file(args.data), args.train_pairs,
                                   args.eval_queries)
    train.to_csv(args.work / "train_pairs.csv", index=False)
    golden = pd.read_csv(args.golden).rename(columns={"query": "search_term"})
    llm = LLMTeacher(args.teacher_llm, template="product", show_progress=True,
                     cache=args.work / "llm_teacher.parquet")
    teachers = measure_teachers(args, {"golden": golden, "dev": whole_queries(
        evaluation, args.teacher_eval_pairs)}, llm)
    if not args.skip_train:
        train_teacher_model(args, train, llm)
    models = args.work / "models"
    systems = {
        "query-word overlap": overlap_scores(evaluation),
        "all-MiniLM-L6-v2 cosine (base bi-encoder)": cosine_scores(evaluation, None),
        f"cross-encoder trained on teacher {args.teacher}": cross_encoder_scores(
            evaluation, models / "ce_teacher", args.max_length),
    }
    run_id, teacher, teacher_metrics = "", pd.DataFrame(), {}
    if not args.teachers_only:
        if not args.skip_label:
            sh([ENRICH, "run", "eval/homedepot/job.yaml", "--db",
                str(args.work / "homedepot.duckdb"), "--limit", str(args.train_pairs),
                *(["--model", args.llm] if args.llm else [])])
        teacher, run_id = teacher_agreement(args.work / "homedepot.duckdb", train)
        if not args.skip_train:
            train_models(args, train, teacher, run_id)
        systems |= {
            "MiniLM cross-encoder, untrained head (base)": cross_encoder_scores(evaluation,
                                                                                None),
            "cross-encoder distilled from LLM labels": cross_encoder_scores(
                evaluation, models / "ce_llm", args.max_length),
            "cross-encoder on human ratings of the same pairs (reference)":
                cross_encoder_scores(evaluation, models / "ce_human", args.max_length)}
        teacher_metrics = agreement(teacher, 1.0 - teacher["p_bad"].to_numpy())
    results = {name: agreement(evaluation, scores) for name, scores in systems.items()}
    write_report(args, run_id, teacher, teacher_metrics, results, random_ndcg(evaluation),
                 teachers)


def write_report(args: argparse.Namespace, run_id: str, teacher: pd.DataFrame,
                 teacher_metrics: dict, results: dict, random_order: float,
                 teachers: dict[str, dict]) -> None:
    command = ".venv/bin/python eval/homedepot/run_eval.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    first = next(iter(results.values()))
    lines = ["# Home Depot: teachers and distilled cross-encoders vs base, against people", "",
             f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by", "", "```", command, "```",
             "", f"Evaluation: {first['pairs']:,} pairs of {first['queries']:,} held-out "
             "queries (no query shared with training). Bad = mean human rating < 2.0. "
             f"Per-query nDCG@10 is nearly flat here: a random order scores {random_order:.3f}.",
             "", "| system | AUC (bad) [95% CI] | Spearman | nDCG@10 |",
             "| --- | --- | --- | --- |"]
    for name, m in results.items():
        auc = format_estimate(Estimate.from_dict(m["auc_ci"]))
        lines.append(f"| {name} | {auc} | {m['spearman']:.3f} | {m['ndcg@10']:.3f} |")
    lines += ["", f"## Teachers: AUC (bad) of their scores (LLM: {args.teacher_llm})", "",
              "| teacher | golden set | dev pairs |", "| --- | --- | --- |"]
    for name, by_set in teachers.items():
        lines.append(f"| {name} | " + " | ".join(
            format_estimate(Estimate.from_dict(by_set[k])) for k in ("golden", "dev")) + " |")
    if teacher.empty:
        _save(args, lines, command, run_id, teacher_metrics, results, random_order, teachers)
        return
    sources = teacher["p_bad_source"].value_counts().to_dict()
    labels = teacher["label"].value_counts().to_dict()
    lines += ["", "## The teacher (LLM labels on the training pairs)", "",
              f"- run `{run_id}`: {len(teacher):,} pairs; labels "
              + ", ".join(f"{k} {v:,}" for k, v in labels.items())
              + "; P(bad) source " + ", ".join(f"{k} {v:,}" for k, v in sources.items()),
              f"- agreement of 1 − P(bad) with the human ratings of those pairs: AUC (bad) "
              f"{teacher_metrics['auc_bad']:.3f}, Spearman {teacher_metrics['spearman']:.3f}"]
    _save(args, lines, command, run_id, teacher_metrics, results, random_order, teachers)


def _save(args: argparse.Namespace, lines: list[str], command: str, run_id: str,
          teacher_metrics: dict, results: dict, random_order: float, teachers: dict) -> None:
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.results.with_suffix(".json").write_text(json.dumps(
        {"command": command, "run_id": run_id, "teacher": teacher_metrics, "results": results,
         "teachers": teachers, "random_order_ndcg@10": random_order}, indent=2),
        encoding="utf-8")
    print(args.results.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
