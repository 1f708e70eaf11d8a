"""The one writer of a scale-out run: workers' result files into the DuckDB store in SQL.

DuckDB has one writer, so workers never open the store: each writes Parquet, and the driver
loads an attempt's result files in one transaction (``INSERT … SELECT … FROM read_parquet``):

- ``requests``: every validated answer a row waits for whose key the store does not hold yet (a
  key answered twice — a batch Ray ran again after a worker died — is stored once: its answer,
  else its earliest failure);
- ``outputs``: every row waiting on an answered key (``cached`` for all but the row that sent
  it, and for all when another run stored the same answer meanwhile);
- ``failures``: every row waiting on a failed key, with the failure's kind; ``connection``
  failures are not stored (the server was unreachable: the rows stay pending and the next run
  sends them), as in a live run;
- a row that now has an output is no longer a failure (a transient failure re-sent).

Rows the run has stored already are left as they are, so loading the same files twice
changes nothing.

Example:
    >>> loaded = load_results(store, plan, run_id, attempt)   # doctest: +SKIP
"""

from dataclasses import dataclass

import duckdb

from enrich.errors import StoreError
from enrich.plan import RunPlan
from enrich.scale.prepare import Attempt
from enrich.store import Store
from enrich.store.migrations import KEY_HASH_SQL
from enrich.store.pending import FAILURE_COLUMNS, OUTPUT_COLUMNS, REQUEST_COLUMNS

PENDING_KINDS = ("connection",)  # a failure that leaves its rows pending


@dataclass
class Loaded:
    """Rows stored by one load."""

    requests: int = 0
    outputs: int = 0
    failures: int = 0


def _quoted_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _statements(files: str, rows: str) -> list[str]:
    answers = (f"SELECT * FROM read_parquet({files}) QUALIFY row_number() OVER "
               "(PARTITION BY key ORDER BY ok DESC, created_at) = 1")
    waiting = (f"SELECT w.row_id, w.key, w.input, a.* EXCLUDE (key, row_id), "
               f"a.row_id AS sender FROM read_parquet({rows}) w JOIN answers a USING (key) "
               "WHERE NOT EXISTS (SELECT 1 FROM outputs o WHERE o.run_id = $run AND "
               "o.row_id = w.row_id)")
    return [
        f"CREATE OR REPLACE TEMP TABLE answers AS {answers}",
        f"CREATE OR REPLACE TEMP TABLE waiting AS {waiting}",
        f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}, key_hash) SELECT key, $run, "
        "row_id, $prompt, $version, model, backend, params, messages, raw, content, output, "
        "logprobs, prompt_tokens, completion_tokens, latency_ms, sends, finish_reason, "
        f"make_timestamp(created_at), {KEY_HASH_SQL.format('key')} FROM answers a WHERE ok "
        "AND key IN (SELECT key FROM waiting) AND NOT EXISTS (SELECT 1 FROM requests q WHERE "
        f"q.key_hash = {KEY_HASH_SQL.format('a.key')} AND q.key = a.key)",
        # cached: the row did not send the request, or another run's answer was there first
        f"INSERT INTO outputs ({', '.join(OUTPUT_COLUMNS)}) SELECT $run, row_id, key, "
        "row_id <> sender OR EXISTS (SELECT 1 FROM requests q WHERE q.key = w.key AND "
        "q.run_id <> $run), input, make_timestamp(created_at) FROM waiting w WHERE ok",
        # a row's new failure replaces its earlier one
        "DELETE FROM failures WHERE run_id = $run AND row_id IN (SELECT row_id FROM waiting "
        "WHERE NOT ok AND NOT (error_kind IN (SELECT unnest($pending))))",
        f"INSERT INTO failures ({', '.join(FAILURE_COLUMNS)}) SELECT $run, row_id, key, "
        "error_kind, error, content, sends, "
        "input, make_timestamp(created_at) FROM waiting WHERE NOT ok AND NOT (error_kind IN "
        "(SELECT unnest($pending)))",
        "DELETE FROM failures WHERE run_id = $run AND row_id IN (SELECT row_id FROM outputs "
        "WHERE run_id = $run)",
    ]


def load_results(store: Store, plan: RunPlan, run_id: str, attempt: Attempt) -> Loaded:
    """Load ``attempt``'s finished result files into the store (one transaction).

    Raises:
        StoreError: the store could not be written (nothing of this load is kept).
    """
    files = [str(p) for p in attempt.result_files()]
    if not files or not attempt.rows.exists():
        return Loaded()
    params = {"run": run_id, "prompt": plan.prompt.name, "version": plan.prompt.version,
              "pending": list(PENDING_KINDS)}
    con = store.con
    before = _counts(store, run_id)
    try:
        con.execute("BEGIN TRANSACTION")
        for statement in _statements(_quoted_list(files), _quoted_list([str(attempt.rows)])):
            con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
        con.execute("DROP TABLE answers")
        con.execute("DROP TABLE waiting")
        con.execute("COMMIT")
    except duckdb.Error as exc:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise StoreError(f"cannot load the workers' results into {store.path}: "
                         f"{str(exc).splitlines()[0]}",
                         "their files are kept: run the same command again to load them"
                         ) from None
    after = _counts(store, run_id)
    return Loaded(*(a - b for a, b in zip(after, before, strict=True)))


def _counts(store: Store, run_id: str) -> tuple[int, int, int]:
    row = store.reader().execute(
        "SELECT (SELECT count(*) FROM requests WHERE run_id = $run), (SELECT count(*) FROM "
        "outputs WHERE run_id = $run), (SELECT count(*) FROM failures WHERE run_id = $run)",
        {"run": run_id}).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])
