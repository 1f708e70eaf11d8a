"""Synthetic queries (doc2query / InPars): k diverse, typed queries per item, then a filter.

For each item the model writes ``num_queries`` queries, each tagged ``specific`` (names the
item), ``broad`` (exploratory, category-level) or ``attribute`` (asks for a property). When
every row is stored, ``finalize`` runs the consistency filter (see ``query_filter.py``) over
the whole item table of the job's source (or ``corpus``) and records every query, kept or
dropped, with the reason. Read them through the ``synthetic_queries`` view.

Example job (``task_options``)::

    task: synthetic_queries
    task_options:
      text_columns: [title]
      num_queries: 3
      filter: {retriever: bm25, top_k: 3}
"""

from typing import TYPE_CHECKING, Any

from pydantic import Field

from enrich.backends.base import LLMResult
from enrich.tasks.base import StrictTaskOptions, Task, TaskPlan
from enrich.tasks.common import CatalogueSpec, check_columns, item_fields, source_rows
from enrich.tasks.logprobs import string_value_logprobs
from enrich.tasks.query_filter import QueryFilterOptions, check_run
from enrich.tasks.view import TaskView

if TYPE_CHECKING:
    from rich.console import Console

    from enrich.store import Store


class SyntheticQueriesOptions(StrictTaskOptions):
    """Options of the synthetic-queries task."""

    text_columns: list[str] | None = Field(
        default=None, description="columns that make the item text (default: all but the id)")
    num_queries: int = Field(default=3, ge=1, le=6, description="queries asked per item")
    filter: QueryFilterOptions = Field(default_factory=QueryFilterOptions)
    corpus: CatalogueSpec | None = Field(
        default=None, description="item table to rank against (default: the job's source)")


SYNTHETIC_QUERIES_VIEW = TaskView(
    name="synthetic_queries",
    sql="""
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
  ON c.run_id = g.run_id AND c.item_id = g.item_id AND c.query_index = g.query_index
""",
    columns=("run_id", "item_id", "item_text", "query", "kind", "kept", "reason", "rank",
             "model", "prompt_version", "created_at", "query_index", "llm_score", "retriever",
             "top_k", "request_key"),
    core_columns=("run_id", "item_id", "item_text", "query", "kept", "model",
                  "prompt_version"),
    examples="SELECT item_id, kind, query, kept, reason FROM synthetic_queries "
             "WHERE run_id = ? ORDER BY TRY_CAST(item_id AS BIGINT), item_id, query_index",
    stats="SELECT count(DISTINCT item_id) AS items, count(*) AS queries, "
          "count(*) FILTER (WHERE kept) AS kept, count(*) FILTER (WHERE kept "
          "IS NULL) AS unchecked, round(avg(rank), 2) AS mean_rank "
          "FROM synthetic_queries WHERE run_id = ?",
    breakdowns={"kept_by_kind": "SELECT kind, printf('%d/%d', count(*) FILTER (WHERE kept), "
                                "count(*)) FROM synthetic_queries WHERE run_id = ? "
                                "GROUP BY 1 ORDER BY 1"},
)


class SyntheticQueriesTask(Task):
    """Generate typed queries per item; keep those whose item a retriever finds again."""

    name = "synthetic_queries"
    description = "k typed queries per item (doc2query/InPars) + retriever consistency filter"
    default_prompt = "synthetic_queries"
    view = SYNTHETIC_QUERIES_VIEW
    Options = SyntheticQueriesOptions

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(options)
        self.corpus: dict[str, str] | None = None
        self._checked_columns = False

    @property
    def cfg(self) -> SyntheticQueriesOptions:
        assert isinstance(self.config, SyntheticQueriesOptions)
        return self.config

    def prepare(self, plan: TaskPlan, store: "Store") -> None:
        """Read the item table the filter ranks against (the whole source, ignoring limit)."""
        super().prepare(plan, store)
        corpus: dict[str, str] = {}
        if self.cfg.corpus is not None:
            spec = self.cfg.corpus
            source = {"path": spec.path, "id_column": spec.id_column}
            for row in source_rows(plan.job, source, store):
                corpus.setdefault(str(row[spec.id_column]), self.text_of(row, spec.text_columns))
        else:
            for row in source_rows(plan.job, store=store):
                corpus[self.row_id(row)] = self.text_of(row, self.cfg.text_columns)
        self.corpus = corpus

    def text_of(self, row: dict[str, Any], columns: list[str] | None) -> str:
        """The item text a row's queries are generated from and ranked against."""
        return " | ".join(v for _, v in item_fields(row, columns, skip=[self.id_column]))

    def variables(self, row: dict[str, Any]) -> dict[str, Any]:
        """Row columns plus ``item_fields`` ([(column, value)]) and ``item_text``."""
        if not self._checked_columns and self.cfg.text_columns:
            check_columns(self.name, row, self.cfg.text_columns, "text_columns")
            self._checked_columns = True
        fields = item_fields(row, self.cfg.text_columns, skip=[self.id_column])
        text = " | ".join(value for _, value in fields)
        self.memo.put(self.row_id(row), text)
        variables = super().variables(row)
        variables.update(item_fields=fields, item_text=text)
        return variables

    def postprocess(self, output: dict[str, Any], result: LLMResult) -> dict[str, Any]:
        """Add the item text, and each query's mean token log-prob when logprobs came back."""
        queries = output.get("queries") or []
        scores = string_value_logprobs(result.logprobs, result.content or "",
                                       [q["query"] for q in queries])
        for query, score in zip(queries, scores, strict=True):
            query["query"] = " ".join(query["query"].split())
            query["llm_score"] = round(score, 4) if score is not None else None
        output["item_text"] = self.memo.get(result.request.row_id)
        return output

    def finalize(self, store: "Store", run_id: str, console: "Console | None",
                 backend: Any = None) -> None:
        """Run the consistency filter over every query of the run and store the verdicts."""
        counts = check_run(store, run_id, self.corpus or {}, self.cfg.filter)
        if console is not None:
            f = self.cfg.filter
            console.print(f"synthetic_queries filter ({f.retriever}, top {f.top_k}"
                          f"{'' if f.min_llm_score is None else f', llm ≥ {f.min_llm_score:g}'}"
                          f"): kept {counts['kept']} of {counts['queries']} queries for "
                          f"{counts['items']} items")
