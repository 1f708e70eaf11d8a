"""Numbered, ordered migrations of the DuckDB store (applied once each, in a transaction).

Never edit a released migration: add a new one at the end.
"""

import re

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "core tables", """
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    job_name VARCHAR NOT NULL,
    job_path VARCHAR,
    fingerprint VARCHAR NOT NULL,
    task VARCHAR,
    prompt_name VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    schema_name VARCHAR NOT NULL,
    backend VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    params JSON,
    source VARCHAR,
    rows_total BIGINT,
    status VARCHAR NOT NULL,
    pid INTEGER,
    started_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP,
    finished_at TIMESTAMP,
    wall_s DOUBLE,
    config JSON
);
CREATE TABLE prompt_versions (
    name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    schema_name VARCHAR,
    content JSON NOT NULL,
    first_seen TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE requests (
    key VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    prompt_name VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    backend VARCHAR NOT NULL,
    params JSON,
    messages JSON,
    response JSON,
    content VARCHAR,
    output JSON NOT NULL,
    logprobs JSON,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_ms DOUBLE,
    sends INTEGER,
    finish_reason VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE outputs (
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    cached BOOLEAN NOT NULL,
    input JSON,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, row_id)
);
CREATE TABLE failures (
    run_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    key VARCHAR,
    error_kind VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    content VARCHAR,
    sends INTEGER,
    input JSON,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, row_id)
);
"""),
    (2, "task tables and views", """
CREATE TABLE synthetic_query_checks (
    run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    query_index INTEGER NOT NULL,
    query VARCHAR NOT NULL,
    kind VARCHAR,
    kept BOOLEAN NOT NULL,
    reason VARCHAR NOT NULL,
    rank INTEGER,
    retriever VARCHAR NOT NULL,
    top_k INTEGER NOT NULL,
    llm_score DOUBLE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, item_id, query_index)
);
CREATE VIEW item_metadata AS
SELECT o.run_id, o.row_id AS item_id,
       q.output ->> '$.clean_title' AS clean_title,
       q.output ->> '$.summary' AS summary,
       q.output ->> '$.attributes.category' AS category,
       q.output ->> '$.attributes.creator' AS creator,
       CAST(q.output -> '$.attributes.properties' AS VARCHAR[]) AS properties,
       CAST(q.output -> '$.keywords' AS VARCHAR[]) AS keywords,
       o.input, r.model, r.prompt_version, o.created_at, o.cached, o.key AS request_key
FROM outputs o JOIN runs r ON r.run_id = o.run_id JOIN requests q ON q.key = o.key
WHERE r.task = 'item_metadata';
CREATE VIEW synthetic_queries AS
WITH generated AS (
    SELECT o.run_id, o.row_id AS item_id, q.output ->> '$.item_text' AS item_text,
           g.entry ->> '$.query' AS query, g.entry ->> '$.kind' AS kind,
           CAST(g.position - 1 AS INTEGER) AS query_index,
           TRY_CAST(g.entry ->> '$.llm_score' AS DOUBLE) AS llm_score,
           r.model, r.prompt_version, o.created_at, o.key AS request_key
    FROM outputs o JOIN runs r ON r.run_id = o.run_id JOIN requests q ON q.key = o.key,
         unnest(CAST(q.output -> '$.queries' AS JSON[])) WITH ORDINALITY AS g(entry, position)
    WHERE r.task = 'synthetic_queries'
)
SELECT g.run_id, g.item_id, g.item_text, g.query, g.kind, c.kept,
       coalesce(c.reason, 'not checked yet: the run has not finished') AS reason,
       c.rank, g.model, g.prompt_version, g.created_at, g.query_index, g.llm_score,
       c.retriever, c.top_k, g.request_key
FROM generated g LEFT JOIN synthetic_query_checks c
  ON c.run_id = g.run_id AND c.item_id = g.item_id AND c.query_index = g.query_index;
CREATE VIEW user_summaries AS
SELECT o.run_id, o.row_id AS user_id,
       q.output ->> '$.summary' AS summary,
       CAST(q.output -> '$.liked' AS VARCHAR[]) AS liked,
       CAST(q.output -> '$.disliked' AS VARCHAR[]) AS disliked,
       r.model, r.prompt_version, o.created_at,
       CAST(q.output -> '$.liked_items' AS VARCHAR[]) AS liked_items,
       CAST(q.output -> '$.disliked_items' AS VARCHAR[]) AS disliked_items,
       TRY_CAST(q.output ->> '$.history_n' AS INTEGER) AS history_n,
       o.key AS request_key
FROM outputs o JOIN runs r ON r.run_id = o.run_id JOIN requests q ON q.key = o.key
WHERE r.task = 'user_summaries';
CREATE VIEW match_labels AS
SELECT o.run_id, o.row_id AS pair_id,
       q.output ->> '$.query' AS query,
       coalesce(o.input ->> ('$."' || coalesce(r.config ->> '$.task_options.item_id_column',
                                              'item_id') || '"'),
                q.output ->> '$.item_id') AS item_id,
       q.output ->> '$.item_text' AS item_text,
       q.output ->> '$.label' AS label,
       q.output ->> '$.reason' AS reason,
       CAST(q.output ->> '$.p_bad' AS DOUBLE) AS p_bad,
       q.output ->> '$.p_bad_source' AS p_bad_source,
       r.model, r.prompt_version, o.created_at,
       TRY_CAST(q.output ->> '$.label_probs.good' AS DOUBLE) AS p_good,
       TRY_CAST(q.output ->> '$.label_probs.partial' AS DOUBLE) AS p_partial,
       TRY_CAST(q.output ->> '$.p_bad_verbalized' AS DOUBLE) AS p_bad_verbalized,
       o.input, o.key AS request_key
FROM outputs o JOIN runs r ON r.run_id = o.run_id JOIN requests q ON q.key = o.key
WHERE r.task = 'bad_match';
CREATE VIEW query_parses AS
SELECT o.run_id, o.row_id AS query_id,
       q.output ->> '$.query' AS query,
       q.output ->> '$.corrected' AS corrected,
       q.output ->> '$.intent' AS intent,
       q.output -> '$.spans' AS spans,
       CAST(q.output -> '$.rewrites' AS VARCHAR[]) AS rewrites,
       r.model, r.prompt_version, o.created_at,
       q.output -> '$.unlocated_spans' AS unlocated_spans,
       CAST(q.output -> '$.context_items' AS VARCHAR[]) AS context_items,
       o.key AS request_key
FROM outputs o JOIN runs r ON r.run_id = o.run_id JOIN requests q ON q.key = o.key
WHERE r.task = 'query_understanding';
"""),
    (3, "bad-match query-likelihood scores", """
CREATE TABLE match_scores (
    run_id VARCHAR NOT NULL,
    pair_id VARCHAR NOT NULL,
    ql_cond DOUBLE,
    ql_uncond DOUBLE,
    ql_pmi DOUBLE,
    scorer VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, pair_id)
);
CREATE OR REPLACE VIEW match_labels AS
SELECT o.run_id, o.row_id AS pair_id,
       q.output ->> '$.query' AS query,
       coalesce(o.input ->> ('$."' || coalesce(r.config ->> '$.task_options.item_id_column',
                                              'item_id') || '"'),
                q.output ->> '$.item_id') AS item_id,
       q.output ->> '$.item_text' AS item_text,
       q.output ->> '$.label' AS label,
       q.output ->> '$.reason' AS reason,
       CAST(q.output ->> '$.p_bad' AS DOUBLE) AS p_bad,
       q.output ->> '$.p_bad_source' AS p_bad_source,
       r.model, r.prompt_version, o.created_at,
       TRY_CAST(q.output ->> '$.label_probs.good' AS DOUBLE) AS p_good,
       TRY_CAST(q.output ->> '$.label_probs.partial' AS DOUBLE) AS p_partial,
       TRY_CAST(q.output ->> '$.p_bad_verbalized' AS DOUBLE) AS p_bad_verbalized,
       o.input, o.key AS request_key,
       s.ql_pmi, s.ql_cond, s.ql_uncond, s.scorer AS ql_scorer
FROM outputs o JOIN runs r ON r.run_id = o.run_id JOIN requests q ON q.key = o.key
LEFT JOIN match_scores s ON s.run_id = o.run_id AND s.pair_id = o.row_id
WHERE r.task = 'bad_match';
"""),
]

_CREATE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+) \((.*?)\n\);", re.DOTALL)
_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (?:IF NOT EXISTS )?(\w+)")
_NOT_A_COLUMN = ("PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK", "CONSTRAINT")


def table_columns(version: int) -> dict[str, frozenset[str]]:
    """Table → column names of a store at migration ``version``, read from the migrations'
    DDL text (no database needed: opening a store checks its tables against this).

    ``tests/test_hostile_store.py`` checks it against what DuckDB creates for every version.

    Example:
        >>> sorted(table_columns(1)["outputs"])[:3]
        ['cached', 'created_at', 'input']
    """
    tables: dict[str, set[str]] = {}
    for number, _, ddl in MIGRATIONS:
        if number > version:
            break
        for name, body in _CREATE.findall(ddl):
            lines = (line.strip() for line in body.splitlines())
            tables[name] = {line.split()[0] for line in lines
                            if line and not line.upper().startswith(_NOT_A_COLUMN)}
        for name, column in _ADD_COLUMN.findall(ddl):
            tables.setdefault(name, set()).add(column)
    return {name: frozenset(columns) for name, columns in tables.items()}
