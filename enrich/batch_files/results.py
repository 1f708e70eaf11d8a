"""Reading a provider's results files into what each request key got.

Every line becomes one :class:`FileOutcome`: an **answer** (HTTP 200 with a chat completion,
read by the same parser as a live answer), a **failure** with the live run's error kinds (HTTP
errors through the same classifier: ``bad_request``, ``rate_limited``, ``http_error``, ...;
``request_timeout`` is ``timeout``), or **not run** (``batch_expired``, ``batch_cancelled``:
the rows stay pending and the next export asks again). A key that appears on several lines
(an output file and an error file, a batch sent twice) keeps its best line: an answer over a
failure over "not run".

Example:
    >>> results = read_results([Path("results.jsonl")], model="gpt-4o-mini")  # doctest: +SKIP
    >>> results.outcomes["3f2a…"].status                                   # doctest: +SKIP
    'answer'
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from enrich.backends.http_errors import ErrorContext, classify, error_fields
from enrich.backends.response_parse import Answer, parse_completion
from enrich.batch_files.formats import NOT_RUN_CODES, BatchOutputLine
from enrich.errors import ConfigError

Status = Literal["answer", "failure", "not_run"]
_RANK: dict[str, int] = {"not_run": 0, "failure": 1, "answer": 2}
MAX_CONTENT_CHARS = 1 << 20  # as the live HTTP backend: longer content is a `too_large` failure


@dataclass(slots=True)
class FileOutcome:
    """What the results file says about one request (``status`` decides which fields count)."""

    status: Status
    content: str | None = None
    raw: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    logprobs: list[dict[str, Any]] | None = None
    error_kind: str | None = None
    error: str = ""


@dataclass
class ResultsIndex:
    """Every key's best outcome, and what the files held.

    Attributes:
        outcomes: cache key (``custom_id``) → outcome.
        lines: result lines read.
        unreadable: lines that are not a result line (their rows stay pending).
        first_unreadable: where the first one was and why ("" if none).
        duplicates: lines whose key had a line before.
    """

    outcomes: dict[str, FileOutcome] = field(default_factory=dict)
    lines: int = 0
    unreadable: int = 0
    first_unreadable: str = ""
    duplicates: int = 0

    def counts(self) -> dict[str, int]:
        """Keys per status."""
        found = dict.fromkeys(_RANK, 0)
        for outcome in self.outcomes.values():
            found[outcome.status] += 1
        return found

    def add(self, key: str, outcome: FileOutcome) -> None:
        """Keep ``outcome`` for ``key`` unless a better one is there already."""
        old = self.outcomes.get(key)
        if old is not None:
            self.duplicates += 1
            if _RANK[old.status] >= _RANK[outcome.status]:
                return
        self.outcomes[key] = outcome


def read_results(paths: list[Path], model: str) -> ResultsIndex:
    """Read results files (OpenAI output and error files, ``vllm run-batch -o``).

    Args:
        paths: the files, in any order.
        model: the job's model (for the wording of HTTP error messages).

    Raises:
        ConfigError: a file is missing, or is a requests file rather than results.
    """
    index = ResultsIndex()
    for path in paths:
        context = ErrorContext(f"batch results {path.name}", model, "batch", "")
        for number, data in _json_lines(path):
            index.lines += 1
            try:
                line = BatchOutputLine.model_validate(data)
            except ValidationError as exc:
                _refuse_requests_file(path, number, data)
                index.unreadable += 1
                if not index.first_unreadable:
                    problem = exc.errors()[0]
                    where = ".".join(str(p) for p in problem["loc"]) or "(line)"
                    index.first_unreadable = f"{path}:{number}: {where}: {problem['msg']}"
                continue
            index.add(line.custom_id, outcome_of(line, context))
    return index


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or None when the line is not JSON) of every non-blank line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read the results file {path} ({exc.strerror or exc})",
                          "pass the file the batch wrote (OpenAI: the output and error "
                          "files; vLLM: `run-batch -o`)") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield number, None


def _refuse_requests_file(path: Path, number: int, data: Any) -> None:
    if isinstance(data, dict) and "body" in data and "response" not in data:
        raise ConfigError(f"{path} line {number} is a request, not a result: this looks like "
                          "the file `enrich batch export` wrote",
                          "pass the results the batch produced (OpenAI: the output_file_id and "
                          "error_file_id files; vLLM: the file of `run-batch -o`)")


def outcome_of(line: BatchOutputLine, context: ErrorContext) -> FileOutcome:
    """One result line, read as the live HTTP backend reads an answer or an error."""
    response = line.response
    if response is not None and response.status_code == 200 and response.body is not None:
        parsed = parse_completion(orjson.dumps(response.body), "application/json",
                                  MAX_CONTENT_CHARS)
        if isinstance(parsed, Answer):
            return FileOutcome("answer", parsed.content, parsed.raw, parsed.prompt_tokens,
                               parsed.completion_tokens, parsed.finish_reason, parsed.logprobs)
        return FileOutcome("failure", error_kind=parsed.kind, error=parsed.message)
    code = line.error_code()
    if code in NOT_RUN_CODES:
        return FileOutcome("not_run", error=f"{code}: {line.error_message()}")
    if code == "request_timeout":
        return FileOutcome("failure", error_kind="timeout",
                           error=f"request_timeout: {line.error_message()}")
    status = response.status_code if response is not None else 0
    source = response.body if response is not None and response.body is not None \
        else line.error
    message, error_code = error_fields(orjson.dumps(source))
    if status in (0, 200):  # an error with no HTTP status: the provider's trouble, sent again
        return FileOutcome("failure", error_kind="http_error",
                           error=f"batch error {code or ''}: {message}".replace("  ", " "))
    verdict = classify(status, message, error_code or code, context)
    # what would stop a live run (a refused parameter, an unknown model) is each row's failure
    # here: the batch has run already, and `enrich retry` re-sends them live
    kind = "bad_request" if verdict.kind == "fatal" else verdict.kind
    return FileOutcome("failure", error_kind=kind, error=verdict.message)
