"""How good is each teacher? Rerank a first stage's top 30 on the 150 Cranfield dev queries.

Every teacher of :mod:`enrich.distill.teachers` grades the first stage's top ``--depth``
abstracts of each human query; the reordered run is scored with nDCG@10 (graded qrels) and a
bootstrap interval over queries, next to the first stage itself. LLM teachers (``ql``,
``ql-pmi`` and combinations with them) cost ≈ 0.3–1 s per pair on 2 CPU threads, so they run
on the first ``--llm-queries`` queries only (each result says on how many); their scores are
cached in ``WORK/llm_teacher.parquet``.

Usage (from the repository root)::

    .venv/bin/python eval/cranfield/teacher_eval.py                     # cheap teachers
    .venv/bin/python eval/cranfield/teacher_eval.py --llm smollm2-135m --llm-queries 40 \\
        --teachers ql ql-pmi zsum:bm25,biencoder,ql-pmi
"""

import argparse
import json
import time
from pathlib import Path

from cranfield_data import Cranfield
from cranfield_systems import bm25_run, dense_run

from enrich.evaluate.bootstrap import format_estimate
from enrich.evaluate.retrieval import gain_estimate, metric_estimate, rerank_top

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHEAP = ["bm25", "biencoder", "rrf", "zsum"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=None, help="Cranfield folder")
    p.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    p.add_argument("--teachers", nargs="+", default=CHEAP)
    p.add_argument("--first-stage", nargs="+", default=["bm25", "biencoder"],
                   choices=["bm25", "biencoder"])
    p.add_argument("--depth", type=int, default=30)
    p.add_argument("--llm", default="smollm2-135m", help="embedded model of the LLM teachers")
    p.add_argument("--llm-queries", type=int, default=30,
                   help="LLM teachers run on the first N queries only (cost)")
    p.add_argument("--llm-threads", type=int, default=None)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--results", type=Path, default=HERE / "teachers.md")
    return p.parse_args()


def first_stages(cran: Cranfield, names: list[str], work: Path) -> dict[str, dict]:
    """The first-stage runs to rerank."""
    runs = {}
    if "bm25" in names:
        runs["BM25"] = bm25_run(cran.docs, cran.queries)
    if "biencoder" in names:
        runs["all-MiniLM-L6-v2"] = dense_run(cran.docs, cran.queries, None,
                                             cache=work / "vectors")
    return runs


def teacher_rows(args: argparse.Namespace, cran: Cranfield, stage: str, run: dict,
                 teachers: dict) -> list[dict]:
    """One row per teacher: nDCG@10 of the reranked run, its gain over the stage. When LLM
    teachers (scored on the first ``--llm-queries`` queries only) are in the list, every other
    teacher gets a second row on those same queries, so the two can be compared."""
    rows = []
    subset = list(run)[:args.llm_queries]
    with_llm = any("ql" in name for name in teachers)
    plan = [(name, teacher, subset if "ql" in name else list(run))
            for name, teacher in teachers.items()]
    plan += [(name, teacher, subset) for name, teacher in teachers.items()
             if with_llm and "ql" not in name and len(subset) < len(run)]
    for name, teacher, qids in plan:
        sub_run = {q: run[q] for q in qids}
        qrels = {q: cran.qrels[q] for q in qids}
        started = time.perf_counter()

        def grade(qid: str, docs: list[str], teacher=teacher) -> list[float]:
            return teacher.score_groups([(cran.queries[qid], docs)])[0].tolist()

        reranked = rerank_top(sub_run, grade, args.depth)
        rows.append({"first_stage": stage, "teacher": name, "queries": len(qids),
                     "stage_ndcg": metric_estimate(qrels, sub_run, resamples=args.resamples),
                     "ndcg": metric_estimate(qrels, reranked, resamples=args.resamples),
                     "gain": gain_estimate(qrels, sub_run, reranked,
                                           resamples=args.resamples),
                     "seconds": round(time.perf_counter() - started, 1)})
        print(f"{stage} → {name}: {format_estimate(rows[-1]['ndcg'])} "
              f"(stage {format_estimate(rows[-1]['stage_ndcg'])}, {len(qids)} queries)",
              flush=True)
    return rows


def build_teachers(args: argparse.Namespace, cran: Cranfield) -> dict:
    from enrich.distill.llm_teacher import LLMTeacher
    from enrich.distill.teachers import build_teacher

    needs_llm = any("ql" in t for t in args.teachers)
    llm = LLMTeacher(args.llm, template="passage", n_threads=args.llm_threads,
                     cache=args.work / "llm_teacher.parquet") if needs_llm else None
    shared: dict = {}
    return {t: build_teacher(t, cran.docs, llm=llm, shared=shared,
                             cache_dir=args.work / "vectors") for t in args.teachers}


def write(args: argparse.Namespace, rows: list[dict]) -> None:
    lines = ["# Cranfield: teachers as rerankers of a first stage's top "
             f"{args.depth} (150 dev queries)", "",
             "nDCG@10 with 95% bootstrap intervals over queries; gain = paired difference "
             "with the first stage on the same queries. Reproduce: "
             "`.venv/bin/python eval/cranfield/teacher_eval.py "
             f"--first-stage {' '.join(args.first_stage)} "
             f"--teachers {' '.join(args.teachers)} --llm {args.llm} "
             f"--llm-queries {args.llm_queries} --results {_shown(args.results)}`", "",
             "| first stage | teacher | queries | first stage nDCG@10 | reranked nDCG@10 | "
             "gain | s |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['first_stage']} | {r['teacher']} | {r['queries']} | "
                     f"{format_estimate(r['stage_ndcg'])} | {format_estimate(r['ndcg'])} | "
                     f"{format_estimate(r['gain'])} | {r['seconds']} |")
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dump = [{k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in r.items()}
            for r in rows]
    args.results.with_suffix(".json").write_text(json.dumps(dump, indent=2), encoding="utf-8")
    print("\n".join(lines))


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cran = Cranfield.load(args.data)
    teachers = build_teachers(args, cran)
    rows = []
    for stage, run in first_stages(cran, args.first_stage, args.work).items():
        rows += teacher_rows(args, cran, stage, run, teachers)
    write(args, rows)


if __name__ == "__main__":
    main()
