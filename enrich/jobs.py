"""Job files (``jobs/*.yaml``): what to run, over which rows, against which backend.

A job file is validated into :class:`JobSpec` (unknown keys are errors). Relative paths in it
resolve against the project root: the nearest folder above the job file that holds ``prompts/``.

Example::

    name: movielens-item-metadata
    source: {path: data/samples/movielens_movies.csv, id_column: movie_id}
    prompt: item_metadata
    backend: {kind: llamacpp, model: smollm2-135m}
    concurrency: 1
"""

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from enrich.errors import ConfigError
from enrich.redact import url_credential
from enrich.yaml_files import load_yaml_file

BackendKind = Literal["llamacpp", "openai", "vllm"]
ServerKind = Literal["vllm", "vllm-legacy", "openai", "llamacpp-server", "none"]


_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*( ?\( ?\d+ ?(, ?\d+ ?)?\))?(\[\])*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(_Strict):
    """Where rows come from: a CSV / JSONL / Parquet file, or a SQL query over a DuckDB file."""

    path: str | None = Field(default=None, description="CSV, JSONL or Parquet file (or glob)")
    format: Literal["csv", "jsonl", "parquet"] | None = Field(
        default=None, description="inferred from the file extension when omitted"
    )
    duckdb: str | None = Field(default=None, description="DuckDB file the query reads")
    query: str | None = Field(default=None, description="read-only SQL over `duckdb`")
    id_column: str = Field(description="column with a unique id per row")
    columns: list[str] | None = Field(default=None, description="columns to keep (default all)")
    types: dict[str, str] | None = Field(
        default=None,
        description="column → DuckDB type, e.g. {price: DOUBLE}; undeclared CSV columns are "
                    "text, exactly as written")

    @field_validator("types")
    @classmethod
    def _type_names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for column, name in (value or {}).items():
            if not _TYPE_NAME.match(name):
                raise ValueError(f"`{column}`: `{name}` is not a type name (e.g. VARCHAR, "
                                 "BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMP, DECIMAL(10,2))")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> "SourceSpec":
        if (self.path is None) == (self.query is None):
            raise ValueError("set exactly one of `path` (a file) or `query` (+ `duckdb`)")
        if self.query is not None and self.duckdb is None:
            raise ValueError("`query` needs `duckdb: path/to/file.duckdb`")
        return self


class SamplingParams(_Strict):
    """Sampling parameters sent to the backend; unset ones take the prompt file's defaults."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    stop: list[str] | None = None

    def merged_over(self, defaults: "SamplingParams") -> "SamplingParams":
        """These parameters, falling back to ``defaults`` field by field."""
        base = defaults.model_dump(exclude_none=True)
        base.update(self.model_dump(exclude_none=True))
        return SamplingParams(**base)


class BackendSpec(_Strict):
    """Which LLM answers: embedded llama.cpp, an OpenAI-compatible server, or offline vLLM."""

    kind: BackendKind = "llamacpp"
    model: str = Field(
        default="smollm2-135m",
        description="a known model name (see `enrich models`), a .gguf path, or a server model",
    )
    base_url: str | None = Field(default=None, description="e.g. http://localhost:8000/v1")
    server: ServerKind | None = Field(
        default=None,
        description="structured-output dialect of the server; when omitted, the openai "
                    "backend asks the server what it is (default vllm)",
    )
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the API key"
    )
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20, description="per request, transport errors")
    max_retry_after_s: float = Field(
        default=60.0, gt=0, le=3600, description="longest wait a server's Retry-After gets")
    server_wait_s: float = Field(
        default=60.0, ge=0, le=86400,
        description="how long a run waits for a server that stopped answering before it stops "
                    "(the rows stay pending)")
    n_threads: int | None = Field(default=None, ge=1, description="llama.cpp threads")
    n_ctx: int = Field(default=4096, ge=256)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (e.g. http://localhost:8000/v1)")
        if value is not None and ("@" in value.split("/")[2] or url_credential(value)):
            raise ValueError("must not hold credentials (they would be stored with the run): "
                             "put the key in an environment variable named by `api_key_env`")
        return value

    def structured_dialect(self) -> ServerKind:
        """The structured-output dialect to use for this backend."""
        if self.server is not None:
            return self.server
        defaults: dict[str, ServerKind] = {"llamacpp": "none", "openai": "vllm", "vllm": "none"}
        return defaults[self.kind]


class JobSpec(_Strict):
    """A validated job file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    task: str | None = Field(default=None, description="task kind (see `enrich tasks list`)")
    source: SourceSpec
    prompt: str = Field(description="prompt name in prompts/, optionally NAME@VERSION")
    schema_name: str | None = Field(
        default=None, alias="schema", description="output schema; default: the prompt's"
    )
    backend: BackendSpec = Field(default_factory=BackendSpec)
    params: SamplingParams = Field(default_factory=SamplingParams)
    task_options: dict[str, Any] = Field(default_factory=dict)
    concurrency: int = Field(default=1, ge=1, le=4096)
    repair_attempts: int = Field(default=1, ge=0, le=5, description="re-asks on invalid output")
    limit: int | None = Field(default=None, ge=0)
    max_prompt_chars: int = Field(
        default=500_000, ge=1,
        description="a row whose rendered prompt is longer is recorded as a failure, not sent")
    # Set by load_job, not by users:
    path: Path | None = Field(default=None, exclude=True)
    root: Path = Field(default=Path("."), exclude=True)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def resolve(self, relative: str) -> Path:
        """A path from the job file, resolved against the project root."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.root / p)


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds a ``prompts/`` folder."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "prompts").is_dir():
            return folder
    return start


def _format_validation_error(path: Path, err: ValidationError,
                             options: dict[str, str] | None = None) -> tuple[str, str]:
    """(message, hint) for the first validation error; one that a command-line option caused
    names the option (``options``: dotted key → option), not the job file."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    option = (options or {}).get(where)
    if option is not None:
        return f"Invalid value for '{option}': {msg}{more}", "see `enrich run --help`"
    return f"{path}: `{where}`: {msg}{more}", "fix the job file"


def load_job(path: str | Path, overrides: dict[str, Any] | None = None,
             options: dict[str, str] | None = None) -> JobSpec:
    """Read and validate a job file, applying CLI ``overrides`` (dotted keys → values).

    Args:
        path: the job file.
        overrides: dotted keys → values that replace the file's (None: keep the file's).
        options: dotted keys → the command-line option that set them (``--concurrency``), so
            an invalid value blames the option instead of the job file.

    Returns:
        The validated job, with ``path`` and project ``root`` set.

    Raises:
        ConfigError: the file is missing, is not YAML, or does not validate.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"job file not found: {path}", "check the path (see jobs/ for examples)")
    raw = load_yaml_file(path, "job file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a job file must be a YAML mapping", "see jobs/ for examples")
    applied: dict[str, str] = {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        target = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{path}: `{key}` must be a mapping", "fix the job file")
        target[leaf] = value
        if options and dotted in options:
            applied[dotted] = options[dotted]
    try:
        job = JobSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(*_format_validation_error(path, exc, applied)) from exc
    return job.model_copy(update={"path": path.resolve(), "root": find_project_root(path.parent)})
