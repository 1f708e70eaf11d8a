"""Each task owns its view (issue 18): the store creates every registered task's view from
the task's :class:`~enrich.tasks.view.TaskView`, and stores written by the migration chain of
before (whose migrations 2 and 3 created the views) still open and show them.
"""

from pathlib import Path

import duckdb
import pytest
from reliability_helpers import apply_old_migrations

from enrich.errors import StoreError
from enrich.store import Store
from enrich.store.migrations import MIGRATIONS, create_task_views
from enrich.tasks import all_tasks, task_views, view_columns
from enrich.tasks.view import TaskView

# The views as migrations 2 and 3 created them before issue 18 (copied from
# enrich/store/migrations.py at commit 08d4d0b; never edit: it is what old stores hold).
OLD_VIEWS = {
    2: """
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
""",
    3: """
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
""",
}

OLD_VIEW_NAMES = ("item_metadata", "synthetic_queries", "user_summaries", "match_labels",
                  "query_parses")


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> tuple[str, ...]:
    return tuple(d[0] for d in con.execute(f'SELECT * FROM "{name}" LIMIT 0').description)


def _views(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    return dict(con.execute("SELECT view_name, comment FROM duckdb_views() "
                            "WHERE NOT internal").fetchall())


def _old_store(path: Path) -> None:
    """A store as enrich before issue 18 wrote it, with one item_metadata row."""
    with duckdb.connect(str(path)) as con:
        apply_old_migrations(con, 3, OLD_VIEWS)  # (4 came later: opening applies it)
        con.execute("INSERT INTO runs (run_id, job_name, fingerprint, task, prompt_name, "
                    "prompt_version, schema_name, backend, model, status, started_at) VALUES "
                    "('r1', 'items', 'f', 'item_metadata', 'item_metadata', 'v1', "
                    "'ItemMetadata', 'openai', 'm', 'finished', now())")
        con.execute("INSERT INTO requests (key, run_id, row_id, prompt_name, prompt_version, "
                    "model, backend, output, created_at) VALUES ('k1', 'r1', '7', "
                    "'item_metadata', 'v1', 'm', 'openai', ?, now())",
                    ['{"clean_title": "Drill", "summary": "A drill.", "keywords": ["tool"], '
                     '"attributes": {"category": "tools", "creator": "", "properties": []}}'])
        con.execute("INSERT INTO outputs VALUES ('r1', '7', 'k1', false, '{}', now())")


def _item_row(store: Store) -> tuple | None:
    return store.sql("SELECT item_id, clean_title, category, keywords FROM item_metadata "
                     "WHERE run_id = 'r1'").fetchone()


def test_the_registry_declares_the_views_of_the_built_in_tasks() -> None:
    declared = {task: cls.view.name for task, cls in all_tasks().items() if cls.view}
    assert declared.items() >= {
        "item_metadata": "item_metadata", "synthetic_queries": "synthetic_queries",
        "user_summaries": "user_summaries", "bad_match": "match_labels",
        "query_understanding": "query_parses"}.items()
    assert len({view.name for view in task_views()}) == len(task_views()), "a view name twice"


def test_every_task_view_exists_in_a_new_store_with_exactly_its_columns(tmp_path: Path
                                                                        ) -> None:
    db = tmp_path / "new.duckdb"
    with Store(db) as store:
        for view in task_views():
            assert _columns(store.con, view.name) == view.columns, view.name
        assert _views(store.con) == {v.name: v.fingerprint() for v in task_views()}
    with Store(db, read_only=True) as store:  # readers see them too
        assert set(_views(store.con)) == {v.name for v in task_views()}


def test_the_migrations_create_tables_only() -> None:
    for version, _, ddl in MIGRATIONS:
        assert "VIEW" not in ddl.upper(), f"migration {version} creates a view: a task owns it"


def test_an_old_store_opens_read_only_and_for_writing_with_the_same_views(tmp_path: Path
                                                                         ) -> None:
    db = tmp_path / "old.duckdb"
    _old_store(db)
    with Store(db, read_only=True) as store:  # nothing is (re)created read-only
        assert _views(store.con) == dict.fromkeys(OLD_VIEW_NAMES)
        for view in task_views():  # the old views have the columns the tasks declare
            if view.name in OLD_VIEW_NAMES:
                assert _columns(store.con, view.name) == view.columns, view.name
        before = _item_row(store)
    assert before == ("7", "Drill", "tools", ["tool"])
    with Store(db) as store:  # opened for writing: the tasks' own views replace the old ones
        assert store.schema_version() == MIGRATIONS[-1][0]
        assert _views(store.con) == {v.name: v.fingerprint() for v in task_views()}
        assert _item_row(store) == before
    with Store(db, read_only=True) as store:
        assert _item_row(store) == before


def test_a_store_at_migration_2_gets_the_scores_table_and_the_new_match_labels(tmp_path: Path
                                                                              ) -> None:
    db = tmp_path / "v2.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
                    "applied_at TIMESTAMP)")
        for version, name, ddl in MIGRATIONS[:2]:
            con.execute(ddl + OLD_VIEWS.get(version, ""))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
        assert "ql_pmi" not in _columns(con, "match_labels")
    with Store(db) as store:
        labels = next(v for v in task_views() if v.name == "match_labels")
        assert _columns(store.con, "match_labels") == labels.columns


def test_an_up_to_date_store_is_left_alone_and_a_stale_view_is_replaced(tmp_path: Path
                                                                        ) -> None:
    db = tmp_path / "e.duckdb"
    with Store(db) as store:
        assert create_task_views(store.con, str(db)) == []  # current: nothing written
        store.con.execute("CREATE OR REPLACE VIEW user_summaries AS SELECT 1 AS x")
    with Store(db) as store:
        summaries = next(v for v in task_views() if v.name == "user_summaries")
        assert _columns(store.con, "user_summaries") == summaries.columns


def test_a_view_that_cannot_be_created_is_one_error_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with Store(db) as store:  # a store with a table where a view belongs, and a stale view
        store.con.execute("DROP VIEW query_parses")
        store.con.execute("CREATE TABLE query_parses (x INTEGER)")
        store.con.execute("COMMENT ON VIEW item_metadata IS 'older'")
    with pytest.raises(StoreError, match="cannot create the task view `query_parses`") as info:
        Store(db)
    assert "rename it" in info.value.hint
    with Store(db, read_only=True) as store:  # the transaction was rolled back whole
        assert _views(store.con)["item_metadata"] == "older"


def test_distillation_checks_the_core_columns_the_tasks_declare() -> None:
    assert view_columns()["synthetic_queries"] == ("run_id", "item_id", "item_text", "query",
                                                   "kept", "model", "prompt_version")
    for view in task_views():
        assert set(view.required_columns) <= set(view.columns)
    with pytest.raises(ValueError, match="core column.*nope"):
        TaskView(name="v", sql="SELECT 1 AS a", columns=("a",), core_columns=("a", "nope"))
    plain = TaskView(name="v", sql="SELECT 1 AS a", columns=("a",))
    assert plain.required_columns == ("a",)
