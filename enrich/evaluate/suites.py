"""Evaluation suites (``eval/suites/*.yaml``): which prompt runs on which golden set, which
metrics are reported and which thresholds must hold.

Three kinds: ``labels`` (LLM labels vs human labels, e.g. bad-match vs Home Depot ratings),
``generation`` (validity, length, duplicates, diversity, consistency of generated text) and
``retrieval`` (nDCG/recall/MRR of retrievers against qrels). Paths resolve against the project
root (the folder holding ``prompts/``), like job files. Unknown keys are errors.

Example::

    name: bad_match_homedepot
    kind: labels
    golden: {path: eval/golden/homedepot_bad_match.csv, id_column: pair_id}
    job: {prompt: bad_match, backend: {kind: llamacpp, model: smollm2-135m}}
    human: {column: relevance, bad_below: 2.0, good_from: 2.5, group_column: query}
    thresholds: {roc_auc: {min: 0.55}}
"""

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from enrich.errors import ConfigError
from enrich.jobs import BackendSpec, SamplingParams, find_project_root
from enrich.yaml_files import load_yaml_file

SuiteKind = Literal["labels", "generation", "retrieval"]
LABEL_METRICS = ("roc_auc", "kappa", "weighted_kappa", "spearman", "brier", "accuracy",
                 "coverage", "failure_rate")
GENERATION_METRICS = ("schema_valid_rate", "failure_rate", "mean_words", "duplicate_rate",
                      "distinct_1", "distinct_2", "pass_rate", "roundtrip")
RETRIEVAL_DEFAULT = ("ndcg@10", "recall@10", "recall@100", "mrr")
_RETRIEVAL_PATTERN = re.compile(r"^(ndcg|recall|precision|map)@\d+$|^mrr$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class GoldenSpec(_Strict):
    """The human-labelled rows: a CSV / JSONL file (plus qrels and corpus for retrieval)."""

    path: str = Field(description="CSV or JSONL file of golden rows (queries for retrieval)")
    id_column: str = Field(description="unique id per row (the job's row id)")
    text_column: str = Field(default="text", description="retrieval: the query text column")
    qrels: str | None = Field(default=None, description="retrieval: TSV/CSV query_id, doc_id, "
                                                        "gain")
    corpus: str | None = Field(default=None, description="JSONL/CSV documents (retrieval, "
                                                         "generation round-trip)")
    corpus_id_column: str = "doc_id"
    corpus_text_columns: list[str] = Field(default_factory=lambda: ["title", "text"])
    license: str = Field(default="", description="terms of the data, shown in reports")


class SuiteJob(_Strict):
    """The LLM job a labels / generation suite runs on the golden rows."""

    prompt: str = Field(description="prompt name, optionally NAME@VERSION")
    task: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    columns: list[str] | None = Field(default=None, description="golden columns to send")
    backend: BackendSpec = Field(default_factory=BackendSpec)
    params: SamplingParams = Field(default_factory=SamplingParams)
    task_options: dict[str, Any] = Field(default_factory=dict)
    concurrency: int = Field(default=1, ge=1, le=4096)
    repair_attempts: int = Field(default=1, ge=0, le=5)
    limit: int | None = Field(default=None, ge=1)


class HumanLabels(_Strict):
    """How to read the human label of a golden row."""

    column: str = Field(description="golden column with the human label or mean rating")
    kind: Literal["rating", "label"] = Field(
        default="rating", description="rating: numeric (higher = better); label: class names")
    bad_below: float = Field(default=2.0, description="rating: bad when below this")
    good_from: float = Field(default=2.5, description="rating: best class from this up")
    classes: list[str] = Field(default_factory=lambda: ["bad", "partial", "good"],
                               min_length=2, description="label classes, worst first")
    group_column: str | None = Field(default=None, description="bootstrap whole groups "
                                                               "(e.g. all pairs of a query)")


class Predictions(_Strict):
    """Where the model's labels are read: a task view, else the stored output JSON."""

    view: str | None = Field(default="match_labels", description="task view, if present")
    view_id_column: str = "pair_id"
    label: str = Field(default="label", description="predicted class field")
    score: str = Field(default="p_bad", description="probability of the worst class")


class GenerationSpec(_Strict):
    """What generated text a generation suite measures."""

    text_field: str | None = Field(default=None, description="output field holding the text "
                                                              "(a string or list); default all")
    view: str | None = Field(default="synthetic_queries", description="view with `kept`")
    roundtrip_k: int = Field(default=10, ge=1, description="BM25 over the golden rows: a text "
                                                           "passes if its own row is in top k")
    roundtrip_columns: list[str] = Field(default_factory=lambda: ["title", "text"])


class RetrieverSpec(_Strict):
    """A retriever to evaluate: BM25, or a bi-encoder from a local folder (distilled models)."""

    name: str
    kind: Literal["bm25", "bi-encoder"] = "bm25"
    model: str | None = Field(default=None, description="bi-encoder: all-MiniLM-L6-v2 or a "
                                                        "local folder")


class RetrievalSpec(_Strict):
    retrievers: list[RetrieverSpec] = Field(
        default_factory=lambda: [RetrieverSpec(name="bm25", kind="bm25")])
    depth: int = Field(default=100, ge=1, description="documents retrieved per query")


class Threshold(_Strict):
    min: float | None = None
    max: float | None = None

    def check(self, value: float) -> bool:
        """Whether ``value`` is inside the bounds (NaN never is)."""
        if value != value:  # NaN
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        parts = [f"≥ {self.min}" if self.min is not None else "",
                 f"≤ {self.max}" if self.max is not None else ""]
        return " and ".join(p for p in parts if p)


class BootstrapSpec(_Strict):
    resamples: int = Field(default=1000, ge=0, le=100_000)
    level: float = Field(default=0.95, gt=0.5, lt=1.0)
    seed: int = 0


class Suite(_Strict):
    """A validated suite file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    kind: SuiteKind
    golden: GoldenSpec
    job: SuiteJob | None = None
    human: HumanLabels | None = None
    predictions: Predictions = Field(default_factory=Predictions)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    retrieval: RetrievalSpec = Field(default_factory=RetrievalSpec)
    metrics: list[str] | None = Field(default=None, description="default: all of the kind")
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    path: Path | None = Field(default=None, exclude=True)
    root: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _kind_sections(self) -> "Suite":
        if self.kind in ("labels", "generation") and self.job is None:
            raise ValueError(f"a `{self.kind}` suite needs a `job` section (prompt, backend)")
        if self.kind == "labels" and self.human is None:
            raise ValueError("a `labels` suite needs a `human` section (the label column)")
        if self.kind == "retrieval" and self.golden.qrels is None:
            raise ValueError("a `retrieval` suite needs `golden.qrels` and `golden.corpus`")
        if self.kind == "retrieval" and self.golden.corpus is None:
            raise ValueError("a `retrieval` suite needs `golden.corpus`")
        unknown = [m for m in self.metric_names() if not _known_metric(self.kind, m)]
        if unknown:
            raise ValueError(f"unknown metric(s) for a {self.kind} suite: {', '.join(unknown)}"
                             f" (known: {', '.join(_known_list(self.kind))})")
        stray = [m for m in self.thresholds if m not in self.metric_names()]
        if stray:
            raise ValueError(f"threshold on a metric the suite does not report: "
                             f"{', '.join(stray)}")
        return self

    def metric_names(self) -> list[str]:
        """The metrics this suite reports, in order."""
        if self.metrics:
            return list(self.metrics)
        return list({"labels": LABEL_METRICS, "generation": GENERATION_METRICS,
                     "retrieval": RETRIEVAL_DEFAULT}[self.kind])

    def resolve(self, relative: str) -> Path:
        """A path from the suite, resolved against the project root."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.root / p)


def _known_list(kind: str) -> tuple[str, ...]:
    return {"labels": LABEL_METRICS, "generation": GENERATION_METRICS,
            "retrieval": ("ndcg@K", "recall@K", "precision@K", "map@K", "mrr")}[kind]


def _known_metric(kind: str, name: str) -> bool:
    if kind == "retrieval":
        return bool(_RETRIEVAL_PATTERN.match(name))
    return name in _known_list(kind)


def suite_path(name_or_path: str | Path, root: Path | None = None) -> Path:
    """A suite file from a path, or a name looked up in ``eval/suites/`` of the project."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    from enrich._builtin import builtin_folder

    root = root or find_project_root(Path.cwd())
    builtin = builtin_folder("eval/suites", root / "eval" / "suites")  # after the project's
    for folder in (root / "eval" / "suites", *([builtin] if builtin else [])):
        for candidate in (folder / f"{name_or_path}.yaml", folder / f"{name_or_path}.yml"):
            if candidate.is_file():
                return candidate
    known = sorted(p.stem for p in (root / "eval" / "suites").glob("*.y*ml"))
    known += sorted(p.stem for p in list_suites(builtin.parent.parent) if p.stem not in known
                    ) if builtin else []
    raise ConfigError(f"no suite `{name_or_path}` (looked in {root / 'eval' / 'suites'})",
                      f"pass a suite file; known suites: {', '.join(known) or 'none'}")


def load_suite(name_or_path: str | Path, root: Path | None = None) -> Suite:
    """Read and validate a suite file (or a suite name from ``eval/suites/``).

    Raises:
        ConfigError: missing file, bad YAML, unknown key, wrong kind section or metric; the
            message names the file and field.
    """
    path = suite_path(name_or_path, root)
    if not path.is_file():
        raise ConfigError(f"suite file not found: {path}", "check the path (see eval/suites/)")
    raw = load_yaml_file(path, "suite file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a suite file must be a YAML mapping",
                          "see eval/suites/ for examples")
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        msg = msg.removeprefix("Value error, ")
        raise ConfigError(f"{path}: `{where}`: {msg}", "fix the suite file") from exc
    return suite.model_copy(update={"path": path.resolve(),
                                    "root": root or find_project_root(path.parent)})


def list_suites(root: Path) -> list[Path]:
    """Suite files of a project, sorted by name."""
    folder = root / "eval" / "suites"
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
