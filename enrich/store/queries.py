"""Read-side queries over the store: run status, counts, consistency checks."""

import os
from typing import Any

from enrich.store.migrations import KEY_HASH_SQL
from enrich.store.store import Store

# One home for a run's counts: `enrich status`, the run summary, `enrich tasks summary` and the
# dashboard all read them here. {runs} is filled in with a condition on `run_id`.
_RUN_COUNTS = """
WITH o AS (SELECT run_id, count(*) FILTER (WHERE NOT cached) AS ok,
                  count(*) FILTER (WHERE cached) AS cached
           FROM outputs WHERE {runs} GROUP BY run_id),
     f AS (SELECT run_id, count(*) AS failed FROM failures WHERE {runs} GROUP BY run_id),
     q AS (SELECT run_id, sum(prompt_tokens) AS tin, sum(completion_tokens) AS tout
           FROM requests WHERE {runs} GROUP BY run_id)
SELECT r.run_id, r.rows_total, coalesce(o.ok, 0), coalesce(o.cached, 0), coalesce(f.failed, 0),
       coalesce(q.tin, 0), coalesce(q.tout, 0)
FROM runs r LEFT JOIN o USING (run_id) LEFT JOIN f USING (run_id) LEFT JOIN q USING (run_id)
WHERE {r_runs}
"""
_FAILURE_KINDS = ("SELECT run_id, error_kind, count(*) FROM failures WHERE {runs} "
                  "GROUP BY ALL ORDER BY 3 DESC, 2")


def _no_run() -> dict[str, Any]:
    return {"rows_total": 0, "ok": 0, "cached": 0, "failed": 0, "pending": 0,
            "tokens_in": 0, "tokens_out": 0, "failures_by_kind": {}}


def runs_counts(store: Store, run_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Rows ok / cached / failed / pending and tokens of many runs, in one query per table.

    Tokens are those of the run's stored results (its ``requests`` rows), as in
    :func:`stored_tokens`; failed attempts are not in them.

    Args:
        store: the open store.
        run_ids: the runs (None: every run).

    Returns:
        run id → counts, as :func:`run_counts` gives them; runs not in the store are left out.
    """
    params: dict[str, Any] = {}
    if run_ids is None:
        runs, r_runs = "true", "true"
    elif len(run_ids) == 1:
        runs, r_runs, params["run"] = "run_id = $run", "r.run_id = $run", run_ids[0]
    else:
        runs = "run_id IN (SELECT unnest($runs))"
        r_runs, params["runs"] = f"r.{runs}", list(run_ids)
    counts: dict[str, dict[str, Any]] = {}
    for run_id, total, ok, cached, failed, tin, tout in store.sql(
            _RUN_COUNTS.format(runs=runs, r_runs=r_runs), params).fetchall():
        total = int(total or 0)
        counts[run_id] = {"rows_total": total, "ok": int(ok), "cached": int(cached),
                          "failed": int(failed),
                          "pending": max(0, total - int(ok) - int(cached) - int(failed)),
                          "tokens_in": int(tin), "tokens_out": int(tout),
                          "failures_by_kind": {}}
    for run_id, kind, n in store.sql(_FAILURE_KINDS.format(runs=runs), params).fetchall():
        if run_id in counts:
            counts[run_id]["failures_by_kind"][kind] = int(n)
    return counts


def run_counts(store: Store, run_id: str) -> dict[str, Any]:
    """Rows ok / cached / failed / pending and tokens for one run (zeros for an unknown run)."""
    return runs_counts(store, [run_id]).get(run_id) or _no_run()


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Recent runs with their counts; a 'running' run whose process is gone is 'interrupted'."""
    rows = store.sql("SELECT run_id, job_name, task, prompt_name, prompt_version, backend, "
                     "model, status, pid, started_at, finished_at, wall_s FROM runs "
                     "ORDER BY started_at DESC LIMIT ?", [limit]).fetchall()
    names = ["run_id", "job_name", "task", "prompt_name", "prompt_version", "backend", "model",
             "status", "pid", "started_at", "finished_at", "wall_s"]
    counts = runs_counts(store, [row[0] for row in rows]) if rows else {}
    runs = []
    for row in rows:
        run = dict(zip(names, row, strict=True))
        if run["status"] == "running" and not _alive(run["pid"]):
            run["status"] = "interrupted"
        run.update(counts.get(run["run_id"]) or _no_run())
        for key in ("started_at", "finished_at"):
            run[key] = run[key].isoformat(timespec="seconds") if run[key] else None
        runs.append(run)
    return runs


CHECKS = {
    "outputs without a request": "SELECT count(*) FROM outputs o LEFT JOIN requests q "
                                 "USING (key) WHERE q.key IS NULL",
    "outputs of unknown runs": "SELECT count(*) FROM outputs o LEFT JOIN runs r USING (run_id) "
                               "WHERE r.run_id IS NULL",
    "failures of unknown runs": "SELECT count(*) FROM failures f LEFT JOIN runs r "
                                "USING (run_id) WHERE r.run_id IS NULL",
    "rows both output and failure": "SELECT count(*) FROM outputs o JOIN failures f "
                                    "USING (run_id, row_id)",
    "requests without an output": "SELECT count(*) FROM requests q LEFT JOIN outputs o "
                                  "USING (key) WHERE o.key IS NULL",
    "runs with more rows than their source": "SELECT count(*) FROM runs r WHERE rows_total < "
                                             "(SELECT count(*) FROM outputs o WHERE "
                                             "o.run_id = r.run_id) + (SELECT count(*) FROM "
                                             "failures f WHERE f.run_id = r.run_id)",
    "requests with NULL output": "SELECT count(*) FROM requests WHERE output IS NULL",
    "finished runs with rows pending": "SELECT count(*) FROM runs r WHERE status = 'finished' "
                                       "AND rows_total > (SELECT count(*) FROM outputs o WHERE "
                                       "o.run_id = r.run_id) + (SELECT count(*) FROM failures f "
                                       "WHERE f.run_id = r.run_id)",
    "new outputs whose request another run made": "SELECT count(*) FROM outputs o JOIN requests "
                                                  "q USING (key) WHERE NOT o.cached AND "
                                                  "q.run_id <> o.run_id",
    "rows with an empty id, key or message": "SELECT (SELECT count(*) FROM outputs WHERE "
                                             "row_id = '' OR key = '') + (SELECT count(*) FROM "
                                             "failures WHERE row_id = '' OR message = '' OR "
                                             "error_kind = '')",
    "runs with an unknown status": "SELECT count(*) FROM runs WHERE status NOT IN ('running', "
                                   "'interrupted', 'finished', 'failed')",
    # the results tables have no primary keys (migration 4): the writer keeps them unique
    "request keys stored twice": "SELECT count(*) - count(DISTINCT key) FROM requests",
    "rows with two outputs": "SELECT count(*) FROM (SELECT run_id, row_id FROM outputs "
                             "GROUP BY ALL HAVING count(*) > 1)",
    "rows with two failures": "SELECT count(*) FROM (SELECT run_id, row_id FROM failures "
                              "GROUP BY ALL HAVING count(*) > 1)",
    "request hashes that do not match their key": "SELECT count(*) FROM requests WHERE "
                                                  "key_hash <> " + KEY_HASH_SQL.format("key"),
}


def consistency_problems(store: Store) -> dict[str, int]:
    """Every integrity check that fails, with the number of offending rows."""
    problems = {}
    for name, sql in CHECKS.items():
        row = store.sql(sql).fetchone()
        n = int(row[0]) if row else 0
        if n:
            problems[name] = n
    return problems


def stored_tokens(store: Store, run_id: str, since_us: int | None = None) -> tuple[int, int]:
    """Prompt and completion tokens of the run's stored results (its ``requests`` rows).

    This is what ``enrich status`` and the dashboard count as a run's tokens. Attempts whose
    answer was not stored (failed rows, answers re-asked after a validation error) are not in
    it; the run summary reports them separately.

    Args:
        store: the open store.
        run_id: the run.
        since_us: only requests stored at or after this time (UTC microseconds since the
            epoch), e.g. those of one invocation.

    Returns:
        (tokens in, tokens out).
    """
    where = "" if since_us is None else " AND created_at >= make_timestamp(?)"
    params: list[Any] = [run_id] if since_us is None else [run_id, since_us]
    row = store.sql("SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0) "
                    f"FROM requests WHERE run_id = ?{where}", params).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
