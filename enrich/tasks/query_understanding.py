"""Query understanding (Yelp-style): typed spans, intent, spelling correction and rewrites.

The model segments a search query into typed spans (product type, brand, attribute, colour,
material, size/quantity, model number, style, location, other), names an intent, corrects the
spelling and proposes up to three rewrites. Span offsets are computed here, never taken from
the model: ``query[start:end] == text`` holds for every stored span (see ``spans.py``); spans
that cannot be placed are kept apart in ``unlocated_spans``.

Optional RAG: with ``task_options.rag`` the ``k`` best catalogue items for the query under
BM25 are put into the prompt (``context_items``), which helps with brands, product types and
spellings the model does not know. Read through the ``query_parses`` view.

Example job (``task_options``)::

    task: query_understanding
    task_options:
      query_column: query
      rag: {path: data/samples/homedepot_pairs.csv, id_column: product_uid,
            text_columns: [product_title], k: 3}
"""

from typing import TYPE_CHECKING, Any

from pydantic import Field

from enrich.backends.base import LLMResult
from enrich.tasks.base import StrictTaskOptions, Task, TaskPlan
from enrich.tasks.common import CatalogueSpec, check_columns, load_catalogue, tidy_list
from enrich.tasks.spans import locate_spans
from enrich.tasks.view import TaskView

if TYPE_CHECKING:
    from enrich.store import Store
    from enrich.tasks.ranking import BM25Ranker


class RagOptions(CatalogueSpec):
    """The catalogue searched for RAG context, and how many items go into the prompt."""

    k: int = Field(default=3, ge=1, le=20, description="catalogue items put into the prompt")


class QueryUnderstandingOptions(StrictTaskOptions):
    """Options of the query-understanding task."""

    query_column: str = Field(default="query", description="column with the raw query")
    domain: str = Field(default="an online store", description="where the search happens")
    rag: RagOptions | None = Field(default=None, description="BM25 catalogue context (optional)")


QUERY_PARSES_VIEW = TaskView(
    name="query_parses",
    sql="""
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
WHERE r.task = 'query_understanding'
""",
    columns=("run_id", "query_id", "query", "corrected", "intent", "spans", "rewrites",
             "model", "prompt_version", "created_at", "unlocated_spans", "context_items",
             "request_key"),
    core_columns=("run_id", "query_id", "query", "corrected", "intent", "spans", "rewrites",
                  "model", "prompt_version"),
    examples="SELECT query, corrected, intent, spans, rewrites FROM query_parses "
             "WHERE run_id = ? ORDER BY TRY_CAST(query_id AS BIGINT), query_id",
    stats="SELECT count(*) AS queries, round(avg(json_array_length(spans)), 2) AS "
          "spans_per_query, sum(json_array_length(unlocated_spans)) AS unlocated_spans, "
          "count(*) FILTER (WHERE lower(corrected) <> lower(query)) AS corrected_queries, "
          "round(avg(len(rewrites)), 2) AS rewrites_per_query "
          "FROM query_parses WHERE run_id = ?",
    breakdowns={"intents": "SELECT intent, count(*) FROM query_parses WHERE run_id = ? "
                           "GROUP BY 1 ORDER BY 2 DESC"},
)


class QueryUnderstandingTask(Task):
    """Segment, classify, correct and rewrite search queries (optionally with RAG context)."""

    name = "query_understanding"
    description = "typed spans with offsets, intent, spelling, rewrites; optional BM25 RAG"
    default_prompt = "query_understanding"
    view = QUERY_PARSES_VIEW
    Options = QueryUnderstandingOptions

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(options)
        self.ranker: BM25Ranker | None = None
        self._checked_columns = False

    @property
    def cfg(self) -> QueryUnderstandingOptions:
        assert isinstance(self.config, QueryUnderstandingOptions)
        return self.config

    def prepare(self, plan: TaskPlan, store: "Store") -> None:
        """Index the RAG catalogue with BM25 (when ``rag`` is set)."""
        super().prepare(plan, store)
        if self.cfg.rag is not None:
            from enrich.tasks.ranking import BM25Ranker

            ids, texts = load_catalogue(plan.job, self.cfg.rag, store)
            self.ranker = BM25Ranker(ids, texts)

    def context(self, query: str) -> list[dict[str, str]]:
        """The RAG items for a query: ``[{"id", "text"}]`` (empty without ``rag``)."""
        if self.ranker is None or self.cfg.rag is None or not query.strip():
            return []
        return [{"id": i, "text": t} for i, t in self.ranker.top(query, self.cfg.rag.k)]

    def renders_from_row_alone(self) -> bool:
        """Not with RAG: the prompt also holds catalogue items, and the catalogue may change."""
        return self.cfg.rag is None

    def variables(self, row: dict[str, Any]) -> dict[str, Any]:
        """Row columns plus ``query`` (raw) and ``context_items`` (RAG, may be empty)."""
        if not self._checked_columns:
            check_columns(self.name, row, [self.cfg.query_column], "query_column")
            self._checked_columns = True
        value = row.get(self.cfg.query_column)
        query = "" if value is None else str(value)
        items = self.context(query)
        self.memo.put(self.row_id(row), {"query": query, "context": [i["id"] for i in items]})
        variables = super().variables(row)
        variables.update(query=query, context_items=items)
        return variables

    def postprocess(self, output: dict[str, Any], result: LLMResult) -> dict[str, Any]:
        """Place spans in the query, tidy rewrites, record the query and the RAG item ids."""
        facts = self.memo.get(result.request.row_id) or {}
        query = facts.get("query")
        output["corrected"] = " ".join(str(output.get("corrected", "")).split())
        rewrites = tidy_list(output.get("rewrites") or [])
        original = " ".join(str(query or "").lower().split())
        output["rewrites"] = [r for r in rewrites if r.lower() != original]
        if query is None:  # not remembered: offsets cannot be computed, say so
            output["unlocated_spans"] = [{**s, "reason": "query unknown"}
                                         for s in output.get("spans") or []]
            output["spans"] = []
        else:
            located, unlocated = locate_spans(query, output.get("spans") or [])
            output["spans"], output["unlocated_spans"] = located, unlocated
        output["query"] = query
        output["context_items"] = facts.get("context", [])
        return output
