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

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from enrich.backends.base import LLMResult
from enrich.errors import ConfigError
from enrich.tasks.base import StrictTaskOptions, Task, TaskPlan
from enrich.tasks.common import check_columns, clean_value, item_text
from enrich.tasks.logprobs import label_distribution
from enrich.tasks.query_likelihood import QueryLikelihoodOptions, score_run
from enrich.tasks.view import TaskView

if TYPE_CHECKING:
    from rich.console import Console

    from enrich.jobs import BackendSpec
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


MATCH_LABELS_VIEW = TaskView(
    name="match_labels",
    sql="""
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
WHERE r.task = 'bad_match'
""",
    columns=("run_id", "pair_id", "query", "item_id", "item_text", "label", "reason", "p_bad",
             "p_bad_source", "model", "prompt_version", "created_at", "p_good", "p_partial",
             "p_bad_verbalized", "input", "request_key", "ql_pmi", "ql_cond", "ql_uncond",
             "ql_scorer"),
    core_columns=("run_id", "query", "item_id", "item_text", "label", "p_bad", "model",
                  "prompt_version"),
    examples="SELECT query, item_text, label, round(p_bad, 3) AS p_bad, p_bad_source, reason "
             "FROM match_labels WHERE run_id = ? ORDER BY TRY_CAST(pair_id AS BIGINT), pair_id",
    breakdowns={"labels": "SELECT label, count(*) FROM match_labels WHERE run_id = ? "
                          "GROUP BY 1 ORDER BY 2 DESC",
                "p_bad_source": "SELECT p_bad_source, count(*) FROM match_labels "
                                "WHERE run_id = ? GROUP BY 1"},
)


class BadMatchTask(Task):
    """Label (query or user, item) pairs good / partial / bad, with P(bad)."""

    name = "bad_match"
    description = "good/partial/bad label, reason and P(bad) from logprobs (eBadMatch)"
    default_prompt = "bad_match"
    view = MATCH_LABELS_VIEW
    Options = BadMatchOptions

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(options)
        self._checked_columns = False
        self.scorer_spec: BackendSpec | None = None
        self._job_backend: BackendSpec | None = None
        self.n_threads = 2

    def prepare(self, plan: TaskPlan, store: "Store") -> None:
        """Choose where query-likelihood scores come from (when asked for) and check it can
        score given text: an embedded model named in the options, else the job's backend."""
        super().prepare(plan, store)
        ql = self.cfg.query_likelihood
        self.scorer_spec = None
        if ql is None:
            return
        from enrich.backends.scoring import unsupported_reason
        from enrich.jobs import BackendSpec
        from enrich.settings import EnrichSettings

        backend = plan.job.backend
        spec = backend if ql.model is None else BackendSpec(kind="llamacpp", model=ql.model,
                                                             n_threads=backend.n_threads)
        reason = unsupported_reason(spec)
        if reason is not None:
            raise ConfigError(f"task `bad_match`: query_likelihood cannot run on this job's "
                              f"backend: {reason}",
                              "set task_options.query_likelihood.model to an embedded model "
                              "(e.g. smollm2-135m)")
        if spec.kind == "llamacpp":  # fail now, not after the run, when the model is missing
            from enrich.backends.model_files import locate_model

            locate_model(spec.model, EnrichSettings().cache_dir)
        self.scorer_spec, self._job_backend = spec, backend
        self.n_threads = backend.n_threads or EnrichSettings().n_threads

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

    def finalize(self, store: "Store", run_id: str, console: "Console | None",
                 backend: Any = None) -> None:
        """Score every pair by query likelihood (only with ``query_likelihood``).

        Args:
            backend: the run's started backend, reused when it can score given text.
        """
        ql = self.cfg.query_likelihood
        if ql is None or self.scorer_spec is None:
            return
        from enrich.backends.openai_http import read_api_key
        from enrich.backends.scoring import continuation_scorer
        from enrich.settings import EnrichSettings
        from enrich.tasks.query_likelihood import QueryLikelihood

        spec = self.scorer_spec
        scorer = continuation_scorer(
            spec, cache_dir=EnrichSettings().cache_dir, n_threads=self.n_threads,
            live_backend=backend if spec is self._job_backend else None,
            api_key=read_api_key(spec.api_key_env) if spec.kind == "openai" else None)
        counts = score_run(store, run_id, QueryLikelihood(scorer, ql.template, scorer.name),
                           ql.max_item_chars)
        if console is not None:
            console.print(f"bad_match query likelihood ({scorer.name}): {counts['pairs']} pairs "
                          f"in {counts['seconds']:.1f} s")
