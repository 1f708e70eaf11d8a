"""The benchmark workload, shared by every client: rows, prompt, schema, validation, reports.

Standard library only: the peers' virtual environments import this module too.
Every client sends, for each row, one chat-completions request with a single short user
message and a JSON Schema whose only field is a bounded array of strings; every client's
answers are validated here with the same code, so a client that returns fewer (or invalid)
rows is counted, not hidden.
"""

import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MODEL = "test-model"
MAX_TOKENS = 64
TEMPERATURE = 0.0
SCHEMA_NAME = "BenchKeywords"
MAX_KEYWORDS = 5
MAX_KEYWORD_LENGTH = 40
# Exactly what pydantic exports for bench/project/schemas/bench_keywords.py (checked by the
# smoke test), so `enrich` and the peers send byte-for-byte the same schema.
SCHEMA: dict[str, Any] = {
    "additionalProperties": False,
    "properties": {
        "keywords": {
            "items": {"maxLength": MAX_KEYWORD_LENGTH, "type": "string"},
            "maxItems": MAX_KEYWORDS,
            "minItems": 1,
            "title": "Keywords",
            "type": "array",
        },
    },
    "required": ["keywords"],
    "title": SCHEMA_NAME,
    "type": "object",
}
PROMPT = "Give up to 5 search keywords for this product: {title}"
_NOUNS = ("drill", "lamp", "chair", "hose", "paint", "shelf", "faucet", "mower", "saw", "rug")
_ADJECTIVES = ("cordless", "brass", "outdoor", "compact", "oak", "white", "heavy-duty", "smart")


def make_rows(n: int) -> list[dict[str, str]]:
    """``n`` rows with a unique id and a short product title."""
    return [{"id": f"r{i:07d}", "title": f"{_ADJECTIVES[i % 8]} {_NOUNS[i % 10]} model {i}"}
            for i in range(n)]


def messages_for(row: dict[str, str]) -> list[dict[str, str]]:
    """The chat messages every client sends for ``row`` (enrich renders the same text)."""
    return [{"role": "user", "content": PROMPT.format(title=row["title"])}]


def request_body(row: dict[str, str]) -> dict[str, Any]:
    """The full chat-completions body the bare clients send (vLLM ``structured_outputs``)."""
    return {"model": MODEL, "messages": messages_for(row), "temperature": TEMPERATURE,
            "max_tokens": MAX_TOKENS, "structured_outputs": {"json": SCHEMA}}


def is_valid_output(content: Any) -> bool:
    """Whether ``content`` (JSON text or an already parsed value) satisfies :data:`SCHEMA`."""
    if isinstance(content, str | bytes):
        try:
            content = json.loads(content)
        except ValueError:
            return False
    if not isinstance(content, dict) or set(content) != {"keywords"}:
        return False
    words = content["keywords"]
    return (isinstance(words, list) and 1 <= len(words) <= MAX_KEYWORDS
            and all(isinstance(w, str) and len(w) <= MAX_KEYWORD_LENGTH for w in words))


def count_valid(expected_ids: set[str], answers: dict[str, Any]) -> tuple[int, int]:
    """(rows returned for known ids, rows whose answer validates)."""
    returned = [rid for rid in answers if rid in expected_ids]
    return len(returned), sum(1 for rid in returned if is_valid_output(answers[rid]))


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class ClientReport:
    """What a client script prints (one JSON line on stdout, prefixed ``REPORT``)."""

    client: str
    rows: int
    concurrency: int
    returned: int = 0
    valid: int = 0
    run_s: float = 0.0
    peak_rss_mb: float = 0.0
    version: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.valid / self.run_s if self.run_s else 0.0

    def emit(self) -> None:
        print("REPORT " + json.dumps(asdict(self)), flush=True)

    def finish(self, run_s: float, rows: list[dict[str, str]], answers: dict[str, Any],
               note: str | None = None) -> None:
        """Count and validate the answers against the rows, record time and peak RSS, print."""
        self.run_s = run_s
        self.returned, self.valid = count_valid({r["id"] for r in rows}, answers)
        self.peak_rss_mb = peak_rss_mb()
        if note:
            self.notes.append(note)
        self.emit()


def parse_report(stdout: str) -> dict[str, Any] | None:
    """The report a client printed, or None when it printed none (it crashed)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("REPORT "):
            report: dict[str, Any] = json.loads(line[len("REPORT "):])
            return report
    return None


@dataclass
class ClientArgs:
    """The command line every client script takes."""

    url: str
    rows: int
    concurrency: int
    workdir: Path

    @classmethod
    def parse(cls, argv: list[str] | None = None) -> "ClientArgs":
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:9/v1")
        parser.add_argument("--rows", type=int, required=True)
        parser.add_argument("--concurrency", type=int, required=True)
        parser.add_argument("--workdir", type=Path, default=Path(os.getcwd()))
        ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
        ns.workdir.mkdir(parents=True, exist_ok=True)
        return cls(ns.url.rstrip("/"), ns.rows, ns.concurrency, ns.workdir)


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
