"""Numbered, ordered migrations of the DuckDB store (applied once each, in a transaction).

Never edit a released migration: add a new one at the end.
"""

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
]
