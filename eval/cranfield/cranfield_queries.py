"""Turn the engine's Cranfield generation run into a ``synthetic_queries`` table, filtered.

The run uses the generic task (prompt ``cranfield_queries``), so its outputs sit in the core
tables (``outputs`` → ``requests.output``). This module explodes them into the
``synthetic_queries`` contract and applies a consistency filter, in a side store that
``enrich distill data`` reads (the engine's store is left untouched):

- ``too_short`` / ``too_long``: fewer than 3 or more than 30 words;
- ``duplicate``: the same question (case-insensitive) already kept for the document;
- ``copied``: the question appears verbatim in the abstract;
- ``not_retrieved``: BM25 over all 1,398 abstracts does not rank the source document in its
  top ``bm25_top_k`` for the question (round-trip consistency, as in InPars / Promptagator).
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from enrich.retrieval import BM25Retriever

SYNTHETIC_COLUMNS = ("run_id VARCHAR, item_id VARCHAR, item_text VARCHAR, query VARCHAR, "
                     "kind VARCHAR, kept BOOLEAN, reason VARCHAR, rank INTEGER, model VARCHAR, "
                     "prompt_version VARCHAR, created_at TIMESTAMP")


@dataclass
class GeneratedQuery:
    """One generated question with its document and provenance."""

    run_id: str
    doc_id: str
    query: str
    rank: int
    model: str
    prompt_version: str
    created_at: object


def latest_run(db: Path, job_name: str) -> str:
    """The most recent run of ``job_name`` in the engine store.

    Raises:
        SystemExit: the store has no such run (run the generation step first).
    """
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT run_id FROM runs WHERE job_name = ? ORDER BY started_at DESC "
                          "LIMIT 1", [job_name]).fetchone()
    if row is None:
        raise SystemExit(f"no run of job {job_name} in {db}: run the generation step first")
    return str(row[0])


def read_generated(db: Path, run_id: str) -> list[GeneratedQuery]:
    """Every generated question of a run (one row per question, in output order)."""
    sql = """SELECT o.row_id, r.output, ru.model, ru.prompt_version, o.created_at
             FROM outputs o JOIN requests r ON r.key = o.key
                  JOIN runs ru ON ru.run_id = o.run_id
             WHERE o.run_id = ? ORDER BY o.row_id"""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(sql, [run_id]).fetchall()
    found = []
    for doc_id, output, model, version, created in rows:
        queries = json.loads(output).get("queries", []) if output else []
        found += [GeneratedQuery(run_id, str(doc_id), " ".join(str(q).split()), n, model,
                                 version, created) for n, q in enumerate(queries, start=1)]
    return found


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def judge(queries: list[GeneratedQuery], docs: dict[str, str], bm25_top_k: int = 20
          ) -> list[tuple[GeneratedQuery, bool, str]]:
    """Keep or drop each question, with the reason (see the module docstring).

    Returns:
        ``(query, kept, reason)`` triples in input order; kept ones have reason ``ok``.
    """
    bm25 = BM25Retriever(list(docs), list(docs.values()))
    hits = bm25.search_many([q.query for q in queries], k=bm25_top_k)
    seen: set[tuple[str, str]] = set()
    judged = []
    for query, found in zip(queries, hits, strict=True):
        words = len(query.query.split())
        normal = _normal(query.query)
        if words < 3 or words > 30:
            reason = "too_short" if words < 3 else "too_long"
        elif (query.doc_id, normal) in seen:
            reason = "duplicate"
        elif normal in _normal(docs.get(query.doc_id, "")):
            reason = "copied"
        elif query.doc_id not in {h.item_id for h in found}:
            reason = "not_retrieved"
        else:
            reason = "ok"
        seen.add((query.doc_id, normal))
        judged.append((query, reason == "ok", reason))
    return judged


def write_views(engine_db: Path, views_db: Path, run_id: str,
                judged: list[tuple[GeneratedQuery, bool, str]], docs: dict[str, str]) -> None:
    """Write ``runs`` (the generation run's row) and ``synthetic_queries`` to a side store."""
    views_db.unlink(missing_ok=True)
    with duckdb.connect(str(views_db)) as con:
        con.execute(f"ATTACH '{engine_db}' AS engine (READ_ONLY)")
        con.execute("CREATE TABLE runs AS SELECT * FROM engine.runs WHERE run_id = ?", [run_id])
        con.execute("DETACH engine")
        con.execute(f"CREATE TABLE synthetic_queries ({SYNTHETIC_COLUMNS})")
        con.executemany(
            "INSERT INTO synthetic_queries VALUES (?, ?, ?, ?, 'question', ?, ?, ?, ?, ?, ?)",
            [(q.run_id, q.doc_id, docs.get(q.doc_id, ""), q.query, kept, reason, q.rank,
              q.model, q.prompt_version, q.created_at) for q, kept, reason in judged])


def filter_report(judged: list[tuple[GeneratedQuery, bool, str]]) -> dict[str, int]:
    """How many questions each reason covers (``ok`` = kept)."""
    counts: dict[str, int] = {}
    for _, _, reason in judged:
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items()))
