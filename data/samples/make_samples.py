"""Regenerate the small real-data samples shipped in ``data/samples/``.

Deterministic (fixed seeds, stable sort keys); reads the shared public datasets and writes
CSV (UTF-8, header, RFC-4180 quoting, LF line ends) and JSONL (UTF-8, one object per line).
See ``README.md`` next to this file for sources, transformations and licenses.

Usage (the public datasets' folder, laid out as in ``data/README.md``)::

    python data/samples/make_samples.py --shared DIR     # or: ENRICH_DATA=DIR python ...
"""

import argparse
import csv
import html
import json
import os
import random
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

SEED = 20240501
OUT = Path(__file__).resolve().parent
YEAR_RE = re.compile(r"\s*\((\d{4})(?:[–-]\d{4})?\)\s*$")


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
    print(f"{path.name}: {len(rows)} rows")


def write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"{path.name}: {len(records)} records")


def split_title(title: str) -> tuple[str, str]:
    """'Heat (1995)' -> ('Heat', '1995'); no trailing year -> (title, '')."""
    title = title.strip()
    match = YEAR_RE.search(title)
    return (title[: match.start()].strip(), match.group(1)) if match else (title, "")


def distinct_tags(tags: pd.Series, limit: int | None = None) -> str:
    """Case-insensitively distinct tags, most frequent first (ties: first use), joined '; '."""
    counts: dict[str, list] = {}
    for order, tag in enumerate(tags.str.strip()):
        entry = counts.setdefault(tag.lower(), [0, order, tag])
        entry[0] += 1
    ranked = sorted(counts.values(), key=lambda e: (-e[0], e[1]))
    return "; ".join(e[2] for e in ranked[:limit])


def movielens(src: Path) -> None:
    movies = pd.read_csv(src / "movies.csv").set_index("movieId")
    ratings = pd.read_csv(src / "ratings.csv")
    tags = pd.read_csv(src / "tags.csv", keep_default_na=False).sort_values(
        ["timestamp", "userId", "movieId", "tag"], kind="stable")
    n_tags = tags.assign(low=tags.tag.str.strip().str.lower()).groupby("movieId").low.nunique()
    n_ratings = ratings.groupby("movieId").size().rename("n")
    ranked = pd.concat([n_ratings, n_tags.rename("nt")], axis=1, join="inner")
    ranked = ranked[ranked.nt >= 3].reset_index().sort_values(["n", "movieId"],
                                                              ascending=[False, True])
    rows = []
    for movie_id in sorted(ranked.movieId.head(80)):
        title, year = split_title(movies.at[movie_id, "title"])
        rows.append([movie_id, title, year, movies.at[movie_id, "genres"],
                     distinct_tags(tags[tags.movieId == movie_id].tag, 12)])
    write_csv(OUT / "movielens_movies.csv", ["movie_id", "title", "year", "genres", "tags"], rows)
    user_histories(movies, ratings, tags)


def user_histories(movies: pd.DataFrame, ratings: pd.DataFrame, tags: pd.DataFrame) -> None:
    ratings = ratings.sort_values(["userId", "timestamp", "movieId"], kind="stable")
    recent = ratings.groupby("userId").tail(20)
    own = tags.groupby(["userId", "movieId"]).tag.apply(distinct_tags).to_dict()
    tagged = recent[[k in own for k in zip(recent.userId, recent.movieId, strict=True)]]
    hits = tagged.groupby("userId").size().sort_index().sort_values(ascending=False, kind="stable")
    chosen = list(hits.index[:40])
    rng = random.Random(SEED)
    for pool in (sorted(set(tags.userId)), sorted(set(ratings.userId))):  # taggers, then others
        rest = [u for u in pool if u not in chosen]
        chosen += rng.sample(rest, min(len(rest), 40 - len(chosen)))
    totals = ratings.groupby("userId").size()
    records = []
    for user_id in sorted(int(u) for u in chosen):
        history = []
        for r in recent[recent.userId == user_id].itertuples():
            history.append({
                "movie_id": int(r.movieId), "title": movies.at[r.movieId, "title"].strip(),
                "genres": movies.at[r.movieId, "genres"], "rating": float(r.rating),
                "tags": own.get((user_id, r.movieId), ""), "timestamp": int(r.timestamp),
                "date": datetime.fromtimestamp(r.timestamp, UTC).strftime("%Y-%m-%d")})
        records.append({"user_id": user_id, "n_ratings_total": int(totals[user_id]),
                        "history": history})
    write_jsonl(OUT / "movielens_user_histories.jsonl", records)


def pick_queries(groups: dict[str, pd.DataFrame], n_pairs: int, n_bad: int) -> list[str]:
    """Whole queries in seeded order until exactly n_pairs pairs with at most n_bad bad ones."""
    names = sorted(groups)
    random.Random(SEED).shuffle(names)
    chosen, total, bad = [], 0, 0
    for name in names:
        n, b = len(groups[name]), int((groups[name].relevance < 2.0).sum())
        if total + n <= n_pairs and bad + b <= n_bad and (total + n - bad - b) <= n_pairs - n_bad:
            chosen.append(name)
            total, bad = total + n, bad + b
        if total == n_pairs:
            return chosen
    raise RuntimeError(f"could only pick {total} pairs")


def home_depot(src: Path) -> None:
    dev = pd.read_csv(src / "dev.csv.gz", keep_default_na=False)
    dev["product_title"] = dev.product_title.map(html.unescape)
    n_titles = dev.groupby("product_uid").product_title.nunique()
    single = sorted(n_titles[n_titles == 1].index)
    products = sorted(random.Random(SEED).sample(single, 80))
    titles = dev.drop_duplicates("product_uid").set_index("product_uid").product_title
    write_csv(OUT / "homedepot_products.csv", ["product_uid", "title"],
              [[uid, titles[uid]] for uid in products])
    eligible = dev.groupby("search_term").filter(lambda g: 3 <= len(g) <= 10)
    groups = dict(tuple(eligible.groupby("search_term")))
    queries = pick_queries(groups, n_pairs=240, n_bad=80)
    pairs = pd.concat([groups[q] for q in queries]).sort_values(["search_term", "id"])
    write_csv(OUT / "homedepot_pairs.csv",
              ["pair_id", "query", "product_uid", "product_title", "relevance"],
              pairs[["id", "search_term", "product_uid", "product_title", "relevance"]]
              .values.tolist())
    write_csv(OUT / "homedepot_queries.csv", ["query_id", "query"],
              [[i, q] for i, q in enumerate(sorted(queries), start=1)])


def wands(src: Path) -> None:
    queries = pd.read_csv(src / "query.csv", sep="\t", keep_default_na=False, dtype=str)
    picked = queries.sample(60, random_state=SEED).sort_values("query_id", key=lambda s:
                                                               s.astype(int))
    write_csv(OUT / "wands_queries.csv", ["query_id", "query", "query_class"],
              picked[["query_id", "query", "query_class"]].values.tolist())


def pick_cranfield(relevant: dict[str, set[str]], n_queries: int, n_docs: int) -> list[str]:
    """Queries in seeded order whose relevant docs together make exactly n_docs documents."""
    names = sorted(relevant, key=int)
    random.Random(SEED).shuffle(names)
    chosen: list[str] = []
    docs: set[str] = set()
    for name in names:
        union = docs | relevant[name]
        last = len(chosen) == n_queries - 1
        if (last and len(union) == n_docs) or (not last and len(union) <= n_docs - 8):
            chosen.append(name)
            docs = union
        if len(chosen) == n_queries:
            return sorted(chosen, key=int)
    raise RuntimeError("no query set matches the requested size")


def cranfield(src: Path) -> None:
    corpus = {d["_id"]: d for d in map(json.loads, (src / "corpus.jsonl").open(encoding="utf-8"))}
    queries = {q["_id"]: q for q in map(json.loads, (src / "queries.jsonl").open(encoding="utf-8"))}
    qrels = pd.read_csv(src / "qrels.tsv", sep="\t", dtype=str)
    qrels.columns = ["query_id", "doc_id", "score"]
    rel = qrels[qrels.score.isin(["1", "2", "3", "4"])]
    relevant = {q: set(g.doc_id) for q, g in rel.groupby("query_id")
                if 2 <= len(g) <= 15 and all(corpus[d]["text"] for d in g.doc_id)}
    chosen = pick_cranfield(relevant, n_queries=10, n_docs=80)
    doc_ids = sorted(set().union(*(relevant[q] for q in chosen)), key=int)
    write_jsonl(OUT / "cranfield_docs.jsonl", [
        {"doc_id": d, "title": corpus[d]["title"], "text": corpus[d]["text"]} for d in doc_ids])
    write_jsonl(OUT / "cranfield_queries.jsonl",
                [{"query_id": q, "text": queries[q]["text"]} for q in chosen])
    keep = qrels[qrels.query_id.isin(chosen) & qrels.doc_id.isin(doc_ids)]
    keep = keep.sort_values(["query_id", "doc_id"], key=lambda s: s.astype(int), kind="stable")
    with (OUT / "cranfield_qrels.tsv").open("w", encoding="utf-8", newline="") as f:
        f.write("query_id\tdoc_id\tscore\n")
        f.writelines(f"{r.query_id}\t{r.doc_id}\t{r.score}\n" for r in keep.itertuples())
    print(f"cranfield_qrels.tsv: {len(keep)} rows")


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
              "movielens-latest-small/, home-depot-search-relevance/, wands-queries-only/ "
              "and cranfield/ (layout: data/README.md)", file=sys.stderr)
        raise SystemExit(2)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None,
                        help="folder holding the public datasets [default: $ENRICH_DATA]")
    shared = shared_folder(parser.parse_args().shared)
    movielens(shared / "movielens-latest-small")
    home_depot(shared / "home-depot-search-relevance")
    wands(shared / "wands-queries-only")
    cranfield(shared / "cranfield")


if __name__ == "__main__":
    main()
