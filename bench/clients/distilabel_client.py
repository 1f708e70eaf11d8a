"""Peer: distilabel 1.5.3, a ``TextGeneration`` step on ``OpenAILLM`` (the ``openai`` SDK), the
schema sent through ``generation_kwargs`` ``extra_body.response_format`` (distilabel's own
``response_format`` only knows "text" and "json"). Runs in ``bench/envs/distilabel``.

distilabel runs each step in its own process and sends one batch of ``input_batch_size`` rows
at a time through ``asyncio.gather``, so the concurrency is the batch size. Its pipeline cache
is off (``use_cache=False``) and it works in a fresh directory per run.
"""

import os
import tempfile
from importlib.metadata import version
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DISTILABEL_LOG_LEVEL", "WARNING")

from bench.workload import (  # noqa: E402
    MAX_TOKENS,
    MODEL,
    SCHEMA,
    SCHEMA_NAME,
    TEMPERATURE,
    ClientArgs,
    ClientReport,
    Timer,
    make_rows,
    messages_for,
)


def _pipeline(args: ClientArgs, rows: list[dict[str, str]]) -> Any:
    from distilabel.models import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    data = [{"id": r["id"], "instruction": messages_for(r)[0]["content"]} for r in rows]
    response_format = {"type": "json_schema",
                       "json_schema": {"name": SCHEMA_NAME, "schema": SCHEMA}}
    with Pipeline(name="enrich-bench") as pipeline:
        load = LoadDataFromDicts(data=data, batch_size=args.concurrency)
        generate = TextGeneration(
            llm=OpenAILLM(model=MODEL, base_url=args.url, api_key="unused",  # type: ignore
                          max_retries=0,
                          generation_kwargs={"max_new_tokens": MAX_TOKENS,
                                             "temperature": TEMPERATURE,
                                             "extra_body": {"response_format": response_format}}),
            input_batch_size=args.concurrency, add_raw_output=False, add_raw_input=False)
        load >> generate
    return pipeline


def main() -> None:
    args = ClientArgs.parse()
    rows = make_rows(args.rows)
    report = ClientReport("distilabel", args.rows, args.concurrency,
                          version=f"distilabel {version('distilabel')}")
    os.environ["DISTILABEL_CACHE_DIR"] = tempfile.mkdtemp(prefix="distilabel-", dir=args.workdir)
    with Timer() as timer:
        pipeline = _pipeline(args, rows)
        distiset = pipeline.run(use_cache=False)
    answers: dict[str, Any] = {}
    for row in distiset["default"]["train"]:
        answers[row["id"]] = row.get("generation")
    report.finish(timer.seconds, rows, answers,
                  note="timed: building the pipeline and Pipeline.run; peak RSS is the main "
                       "process only (see the process-tree column)")


if __name__ == "__main__":
    main()
