"""Bad-match labels (Indeed eBadMatch): good / partial / bad for (query or user, item) pairs.

The model answers ``{"label", "bad_likelihood", "reason"}`` with the label first. When the
backend returns token log-probabilities (``params: {logprobs: true, top_logprobs: 10}``; both
llama.cpp in process and OpenAI-compatible servers can), P(bad) is read at the token where the
label's value starts: the probabilities of the ``good`` / ``partial`` / ``bad`` alternatives
there, normalised over the three (``p_bad_source = 'logprobs'``). Otherwise the model's own
0–10 ``bad_likelihood`` / 10 is stored and flagged ``p_bad_source = 'verbalized'``. Read
through the ``match_labels`` view.

Tiny embedded models make weak judges (see docs/tasks.md): the machinery works with them,
good labels need a bigger model behind the OpenAI-compatible backend.

Example job (``task_options``)::

    task: bad_match
    task_options: {query_column: query, item_id_column: product_uid,
                   item_text_columns: [product_title]}
    params: {logprobs: true, top_logprobs: 10}
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from enrich.backends.base import LLMResult
from enrich.errors import ConfigError
from enrich.tasks import register
from enrich.tasks.base import StrictTaskOptions, Task
from enrich.tasks.common import check_columns, clean_value, item_text
from enrich.tasks.logprobs import label_distribution
from enrich.tasks.query_likelihood import QueryLikelihoodOptions, score_run

if TYPE_CHECKING:
    from rich.console import Console

    from enrich.plan import RunPlan
    from enrich.store import Store

LABELS = ("good", "partial", "bad")


class BadMatchOptions(StrictTaskOptions):
    """Options of the bad-match task."""

    subject: Literal["query", "user"] = Field(
        default="query", description="query: a search query; user: a user-interest summary")
    query_column: str = Field(default="query", description="column with the query / summary")
    item_id_column: str = Field(default="item_id", description="column with the item id")
    item_text_columns: list[str] = Field(default_factory=lambda: ["title"], min_length=1,
                                         description="columns that make the item text")
    domain: str = Field(default="an online store", description="where the search happens")
    query_likelihood: QueryLikelihoodOptions | None = Field(
        default=None, description="also score pairs by query likelihood (UPR/PMI) with an "
                                  "embedded model once the run is stored (ql_pmi in the view)")


def p_bad_from(output: dict[str, Any], result: LLMResult) -> dict[str, Any]:
    """``p_bad``, ``p_bad_source`` and ``label_probs`` for a validated MatchLabel output.

    Example:
        >>> from enrich.backends.base import LLMRequest
        >>> r = LLMResult(LLMRequest("k", "1", [], {}), content="{}")
        >>> p_bad_from({"label": "bad", "bad_likelihood": 8}, r)["p_bad_source"]
        'verbalized'
    """
    verbalized = min(1.0, max(0.0, float(output.get("bad_likelihood", 5)) / 10.0))
    dist = label_distribution(result.logprobs, result.content or "", "label", LABELS)
    if dist is None:
        return {"p_bad": verbalized, "p_bad_source": "verbalized", "label_probs": None,
                "p_bad_verbalized": verbalized}
    probs = {label: round(p, 6) for label, p in dist.items()}
    return {"p_bad": probs["bad"], "p_bad_source": "logprobs", "label_probs": probs,
            "p_bad_verbalized": verbalized}


@register
class BadMatchTask(Task):
    """Label (query or user, item) pairs good / partial / bad, with P(bad)."""

    name = "bad_match"
    description = "good/partial/bad label, reason and P(bad) from logprobs (eBadMatch)"
    default_prompt = "bad_match"
    view = "match_labels"
    Options = BadMatchOptions

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(options)
        self._checked_columns = False
        self.scorer_model: Path | None = None
        self.n_threads = 2

    def prepare(self, plan: "RunPlan", store: "Store") -> None:
        """Find the embedded model for query-likelihood scoring (when asked for)."""
        super().prepare(plan, store)
        ql = self.cfg.query_likelihood
        if ql is None:
            return
        from enrich.backends.model_files import locate_model
        from enrich.settings import EnrichSettings

        name = ql.model or (plan.job.backend.model if plan.job.backend.kind == "llamacpp"
                            else None)
        if name is None:
            raise ConfigError("task `bad_match`: query_likelihood scoring runs on an embedded "
                              "model, and this job's backend is not embedded",
                              "set task_options.query_likelihood.model (e.g. smollm2-135m)")
        settings = EnrichSettings()
        self.scorer_model = locate_model(name, settings.cache_dir)
        self.n_threads = plan.job.backend.n_threads or settings.n_threads

    @property
    def cfg(self) -> BadMatchOptions:
        assert isinstance(self.config, BadMatchOptions)
        return self.config

    def variables(self, row: dict[str, Any]) -> dict[str, Any]:
        """Row columns plus ``query``, ``item_text``, ``subject`` (query or user)."""
        cfg = self.cfg
        if not self._checked_columns:
            check_columns(self.name, row, [cfg.query_column, cfg.item_id_column,
                                           *cfg.item_text_columns],
                          "query_column / item_id_column / item_text_columns")
            self._checked_columns = True
        value = row.get(cfg.query_column)
        query = "" if value is None else str(value)  # kept exactly as in the source
        text = item_text(row, cfg.item_text_columns)
        self.memo.put(self.row_id(row), {"query": query, "item_text": text,
                                         "item_id": clean_value(row.get(cfg.item_id_column))})
        variables = super().variables(row)
        variables.update(query=query, item_text=text, subject=cfg.subject)
        return variables

    def postprocess(self, output: dict[str, Any], result: LLMResult) -> dict[str, Any]:
        """Add P(bad) (logprobs or verbalized), the pair's query, item id and item text."""
        output["reason"] = " ".join(str(output.get("reason", "")).split())
        output.update(p_bad_from(output, result))
        output.update(self.memo.get(result.request.row_id) or {})
        return output

    def finalize(self, store: "Store", run_id: str, console: "Console | None") -> None:
        """Score every pair by query likelihood (only with ``query_likelihood``)."""
        ql = self.cfg.query_likelihood
        if ql is None or self.scorer_model is None:
            return
        from enrich.tasks.query_likelihood import QueryLikelihoodScorer

        scorer = QueryLikelihoodScorer(self.scorer_model, ql.template, self.n_threads)
        try:
            counts = score_run(store, run_id, scorer, ql.max_item_chars)
        finally:
            scorer.close()
        if console is not None:
            console.print(f"bad_match query likelihood ({scorer.name}): {counts['pairs']} pairs "
                          f"in {counts['seconds']:.1f} s")
