"""Peer: bespokelabs-curator 0.1.31 (its OpenAI online processor, the same schema as a pydantic
``response_format``). Runs in ``bench/envs/curator``.

Curator downloads tiktoken's ``cl100k_base`` at start (it only uses it to estimate tokens for
rate limiting), which fails offline: ``tiktoken.get_encoding`` is patched with a 4-characters-
per-token estimate. Telemetry is off (``CURATOR_DISABLE_TELEMETRY=1``, and
``TELEMETRY_ENABLED=false``, the switch 0.1.31 actually reads: without it, it posts to
posthog at exit); litellm's price list and the Hugging Face hub are used offline; rate
limits are set far above what the server can do, and every run gets a fresh working directory,
so curator's own cache never answers.
"""

import os
import tempfile
from importlib.metadata import version
from typing import Any

os.environ.setdefault("CURATOR_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TELEMETRY_ENABLED", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of litellm's price list
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "unused")

import tiktoken  # noqa: E402

from bench.workload import (  # noqa: E402
    MAX_KEYWORD_LENGTH,
    MAX_KEYWORDS,
    MAX_TOKENS,
    MODEL,
    TEMPERATURE,
    ClientArgs,
    ClientReport,
    Timer,
    make_rows,
    messages_for,
)


class _ApproximateEncoding:
    """Stands in for cl100k_base: about 4 characters per token (only rate limiting uses it)."""

    def encode(self, text: str, **_: Any) -> list[int]:
        return [0] * max(1, len(text) // 4)


tiktoken.get_encoding = lambda name: _ApproximateEncoding()  # type: ignore[assignment]


def _llm_class(concurrency: int, url: str) -> Any:
    from typing import Annotated

    from bespokelabs import curator
    from pydantic import BaseModel, ConfigDict, Field, StringConstraints

    class BenchKeywords(BaseModel):
        model_config = ConfigDict(extra="forbid")

        keywords: list[Annotated[str, StringConstraints(max_length=MAX_KEYWORD_LENGTH)]] = Field(
            min_length=1, max_length=MAX_KEYWORDS)

    class Keywords(curator.LLM):
        def prompt(self, row: dict[str, str]) -> list[dict[str, str]]:
            return messages_for(row)

        def parse(self, row: dict[str, str], response: Any) -> dict[str, Any]:
            return {"id": row["id"], "keywords": list(response.keywords)}

    return Keywords(
        model_name=MODEL, backend="openai", response_format=BenchKeywords,
        generation_params={"temperature": TEMPERATURE, "max_tokens": MAX_TOKENS},
        backend_params={"base_url": url, "api_key": "unused", "max_retries": 0,
                        "max_concurrent_requests": concurrency,
                        "max_requests_per_minute": 10_000_000,
                        "max_tokens_per_minute": 10_000_000_000,
                        "require_all_responses": False})


def main() -> None:
    args = ClientArgs.parse()
    rows = make_rows(args.rows)
    report = ClientReport("curator", args.rows, args.concurrency,
                          version=f"bespokelabs-curator {version('bespokelabs-curator')}")
    working_dir = tempfile.mkdtemp(prefix="curator-", dir=args.workdir)
    with Timer() as timer:
        llm = _llm_class(args.concurrency, args.url)
        response = llm(rows, working_dir=working_dir)
    dataset = getattr(response, "dataset", response)
    answers = {r["id"]: {"keywords": r["keywords"]} for r in dataset}
    report.finish(timer.seconds, rows, answers,
                  note="timed: building the curator.LLM and the call over the rows")


if __name__ == "__main__":
    main()
