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
from enrich.tasks import register
from enrich.tasks.base import StrictTaskOptions, Task
from enrich.tasks.common import CatalogueSpec, check_columns, item_fields, source_rows
from enrich.tasks.logprobs import string_value_logprobs
from enrich.tasks.query_filter import QueryFilterOptions, check_run

if TYPE_CHECKING:
    from rich.console import Console

    from enrich.plan import RunPlan
    from enrich.store import Store


class SyntheticQueriesOptions(StrictTaskOptions):
    """Options of the synthetic-queries task."""

    text_columns: list[str] | None = Field(
        default=None, description="columns that make the item text (default: all but the id)")
    num_queries: int = Field(default=3, ge=1, le=6, description="queries asked per item")
    filter: QueryFilterOptions = Field(default_factory=QueryFilterOptions)
    corpus: CatalogueSpec | None = Field(
        default=None, description="item table to rank against (default: the job's source)")


@register
class SyntheticQueriesTask(Task):
    """Generate typed queries per item; keep those whose item a retriever finds again."""

    name = "synthetic_queries"
    description = "k typed queries per item (doc2query/InPars) + retriever consistency filter"
    default_prompt = "synthetic_queries"
    view = "synthetic_queries"
    Options = SyntheticQueriesOptions

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(options)
        self.corpus: dict[str, str] | None = None
        self._checked_columns = False

    @property
    def cfg(self) -> SyntheticQueriesOptions:
        assert isinstance(self.config, SyntheticQueriesOptions)
        return self.config

    def prepare(self, plan: "RunPlan", store: "Store") -> None:
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
