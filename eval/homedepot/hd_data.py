"""Home Depot development pairs: a query-disjoint train / evaluation split, and label stores.

Queries are split by a stable hash of the search term: half are the pool whose pairs the LLM
labels for training, the other half the pool evaluated against the human ratings. No query is
in both.
"""

import hashlib
import sys
from pathlib import Path

import duckdb
import pandas as pd

# where the file goes under ENRICH_DATA (layouts: data/README.md); Kaggle data, not shipped
RELATIVE = Path("home-depot-search-relevance") / "dev.csv.gz"


def homedepot_file(option: Path | None = None) -> Path:
    """The Home Depot development pairs (``dev.csv.gz``) to read.

    Args:
        option: the script's ``--data`` value, if given.

    Returns:
        ``option``, else ``$ENRICH_DATA/home-depot-search-relevance/dev.csv.gz``.

    Raises:
        SystemExit: the file is not there (one line naming the file to put where; exit 2).
    """
    if option is not None:
        path = option.expanduser()
    else:
        from enrich.settings import EnrichSettings

        configured = EnrichSettings().data
        path = configured.expanduser() / RELATIVE if configured is not None else None
    if path is None or not path.is_file():
        where = f"{path} is missing" if path is not None else "ENRICH_DATA is not set"
        print(f"error: the Home Depot pairs are user-supplied and {where} — put the Kaggle "
              f"file at $ENRICH_DATA/{RELATIVE.as_posix()} (columns id, product_uid, "
              "product_title, search_term, relevance; see data/README.md) and set "
              "ENRICH_DATA, or pass --data FILE", file=sys.stderr)
        raise SystemExit(2)
    return path


def _rank(text: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def load_split(path: Path, n_train_pairs: int, n_eval_queries: int, seed: int = 1
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training pairs, evaluation pairs) with whole queries on each side.

    Args:
        path: ``dev.csv.gz``.
        n_train_pairs: pairs in the training file (whole queries; the job's ``--limit`` may
            stop inside the last one).
        n_eval_queries: queries in the evaluation set.
        seed: hash seed of the split and the order.

    Returns:
        Two DataFrames with the file's columns (``id, product_uid, product_title,
        search_term, relevance``).
    """
    frame = pd.read_csv(path)
    frame["id"] = frame["id"].astype(str)
    terms = frame["search_term"].drop_duplicates()
    order = sorted(terms, key=lambda t: _rank(t, seed))
    train_terms = [t for t in order if _rank(t, seed + 1) < 0.5]
    eval_terms = [t for t in order if _rank(t, seed + 1) >= 0.5][:n_eval_queries]
    by_term = {t: g for t, g in frame.groupby("search_term", sort=False)}
    chosen, total = [], 0
    for term in train_terms:
        if total >= n_train_pairs:
            break
        chosen.append(by_term[term])
        total += len(by_term[term])
    train = pd.concat(chosen).reset_index(drop=True)
    evaluation = pd.concat([by_term[t] for t in eval_terms]).reset_index(drop=True)
    return train, evaluation


def teacher_agreement(db: Path, train: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The latest run's ``match_labels`` joined with the human ratings of the same pairs."""
    with duckdb.connect(str(db), read_only=True) as con:
        run_id = con.execute("SELECT run_id FROM runs WHERE job_name = 'homedepot-relevance' "
                             "ORDER BY started_at DESC LIMIT 1").fetchone()
        if run_id is None:
            raise SystemExit(f"no homedepot-relevance run in {db}: run the labelling step")
        labels = con.execute("SELECT pair_id, label, p_bad, p_bad_source FROM match_labels "
                             "WHERE run_id = ?", [run_id[0]]).df()
    merged = labels.merge(train[["id", "relevance", "search_term", "product_title"]],
                          left_on="pair_id", right_on="id")
    return merged, str(run_id[0])


def write_human_store(path: Path, train: pd.DataFrame, pair_ids: list[str]) -> None:
    """A store whose ``match_labels`` are the human ratings of the given training pairs.

    P(bad) = (3 − mean rating) / 2, so the reference cross-encoder sees the same pairs as the
    LLM-taught one, with people's labels instead of the LLM's.
    """
    rows = train[train["id"].isin(set(pair_ids))]
    labels = pd.DataFrame({
        "run_id": "human-ratings", "pair_id": rows["id"], "query": rows["search_term"],
        "item_id": rows["product_uid"].astype(str), "item_text": rows["product_title"],
        "label": pd.cut(rows["relevance"], [0, 1.99, 2.49, 3.1],
                        labels=["bad", "partial", "good"]).astype(str),
        "reason": "", "p_bad": (3.0 - rows["relevance"]) / 2.0, "p_bad_source": "human",
        "model": "human raters", "prompt_version": "-", "created_at": pd.Timestamp.now()})
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.register("labels_frame", labels)
        con.execute("CREATE TABLE match_labels AS SELECT * FROM labels_frame")
        con.execute("CREATE TABLE runs AS SELECT 'human-ratings' AS run_id, "
                    "'homedepot-human' AS job_name, 'bad_match' AS task, "
                    "'human ratings' AS prompt_name, '-' AS prompt_version, "
                    "'human raters' AS model")
