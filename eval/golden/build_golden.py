"""Build the shipped golden sets in ``eval/golden/`` from the public datasets' folder.

Deterministic: a fixed seed, stable sort keys, standard library only; rerunning gives
byte-identical files. Run from the repository root::

    python eval/golden/build_golden.py --shared DIR    # or: ENRICH_DATA=DIR python ...

``DIR`` holds ``home-depot-search-relevance/`` and ``cranfield/`` as ``data/README.md`` lays
them out.

Outputs (licenses in ``eval/golden/README.md``):

- ``homedepot_bad_match.csv`` — 120 query–product pairs with the mean human rating (whole
  queries, 40% bad = mean rating < 2.0). Kaggle competition rules: internal use only.
- ``cranfield_queries.jsonl`` / ``cranfield_qrels.tsv`` / ``cranfield_docs.jsonl`` — 30
  development queries, their graded judgements (gain = 5 − code) and a 300-document corpus
  (every judged document of those queries plus seeded distractors). Public research collection.

Example:
    >>> python eval/golden/build_golden.py --shared ~/datasets   # doctest: +SKIP
"""

import argparse
import csv
import gzip
import json
import os
import random
import sys
from collections import defaultdict
from pathlib import Path

SEED = 20240612
HERE = Path(__file__).resolve().parent
PAIRS, BAD_SHARE, BAD_BELOW = 120, 0.4, 2.0
QUERIES, DOCS = 30, 300


def _homedepot_rows(shared: Path) -> dict[str, list[dict[str, str]]]:
    by_query: dict[str, list[dict[str, str]]] = defaultdict(list)
    path = shared / "home-depot-search-relevance" / "dev.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_query[row["search_term"]].append(row)
    return by_query


def build_homedepot(shared: Path, out: Path) -> tuple[int, int]:
    """Whole queries (3–8 pairs each) in seeded order, accepted while the totals fit."""
    by_query = _homedepot_rows(shared)
    candidates = sorted(q for q, rows in by_query.items() if 3 <= len(rows) <= 8)
    random.Random(SEED).shuffle(candidates)
    max_bad, max_good = round(PAIRS * BAD_SHARE), PAIRS - round(PAIRS * BAD_SHARE)
    chosen: list[dict[str, str]] = []
    bad = good = 0
    for query in candidates:
        rows = by_query[query]
        n_bad = sum(float(r["relevance"]) < BAD_BELOW for r in rows)
        if bad + n_bad <= max_bad and good + len(rows) - n_bad <= max_good:
            chosen.extend(rows)
            bad, good = bad + n_bad, good + len(rows) - n_bad
        if bad == max_bad and good == max_good:
            break
    chosen.sort(key=lambda r: (r["search_term"], int(r["id"])))
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["pair_id", "query", "product_uid", "product_title", "relevance"])
        for r in chosen:
            writer.writerow([r["id"], r["search_term"], r["product_uid"], r["product_title"],
                             r["relevance"]])
    return len(chosen), bad


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def build_cranfield(shared: Path, folder: Path) -> tuple[int, int, int]:
    """30 seeded dev queries with 3–15 judged docs; their judged docs plus distractors."""
    base = shared / "cranfield"
    docs = {d["_id"]: d for d in _jsonl(base / "corpus.jsonl") if d.get("text", "").strip()}
    queries = {q["_id"]: q for q in _jsonl(base / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (base / "qrels.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            code = int(row["cranqrel_code"])
            if 1 <= code <= 4 and row["corpus-id"] in docs:
                qrels[row["query-id"]][row["corpus-id"]] = 5 - code
    rng = random.Random(SEED)
    eligible = sorted((q for q in qrels if 3 <= len(qrels[q]) <= 15), key=int)
    chosen = sorted(rng.sample(eligible, QUERIES), key=int)
    judged = sorted({d for q in chosen for d in qrels[q]}, key=int)
    others = sorted(set(docs) - set(judged), key=int)
    corpus = sorted(judged + rng.sample(others, DOCS - len(judged)), key=int)
    with (folder / "cranfield_queries.jsonl").open("w", encoding="utf-8") as handle:
        for q in chosen:
            handle.write(json.dumps({"query_id": q, "text": queries[q]["text"]}) + "\n")
    with (folder / "cranfield_qrels.tsv").open("w", encoding="utf-8") as handle:
        handle.write("query_id\tdoc_id\tgain\n")
        for q in chosen:
            for d in sorted(qrels[q], key=int):
                handle.write(f"{q}\t{d}\t{qrels[q][d]}\n")
    with (folder / "cranfield_docs.jsonl").open("w", encoding="utf-8") as handle:
        for d in corpus:
            record = {"doc_id": d, "title": docs[d]["title"], "text": docs[d]["text"]}
            handle.write(json.dumps(record) + "\n")
    return len(chosen), sum(len(qrels[q]) for q in chosen), len(corpus)


def shared_folder(option: Path | None) -> Path:
    """The folder of public datasets: ``--shared``, else ``$ENRICH_DATA`` (data/README.md).

    Raises:
        SystemExit: neither names an existing folder (one line, exit code 2).
    """
    configured = os.environ.get("ENRICH_DATA", "").strip()
    folder = option or (Path(configured).expanduser() if configured else None)
    if folder is None or not folder.is_dir():
        what = f"{folder} is not a folder" if folder else "no data folder given"
        print(f"error: {what} — pass --shared DIR or set ENRICH_DATA=DIR, the folder holding "
              "home-depot-search-relevance/ and cranfield/ (layout: data/README.md)",
              file=sys.stderr)
        raise SystemExit(2)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None,
                        help="folder holding home-depot-search-relevance/ and cranfield/ "
                             "[default: $ENRICH_DATA]")
    args = parser.parse_args()
    args.shared = shared_folder(args.shared)
    pairs, bad = build_homedepot(args.shared, HERE / "homedepot_bad_match.csv")
    print(f"homedepot_bad_match.csv: {pairs} pairs, {bad} bad (mean rating < {BAD_BELOW})")
    n_q, n_rel, n_docs = build_cranfield(args.shared, HERE)
    print(f"cranfield: {n_q} queries, {n_rel} judged relevant, {n_docs} documents")


if __name__ == "__main__":
    main()
