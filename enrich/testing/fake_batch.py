"""The test server's batch mode: run a requests file the way ``vllm run-batch`` or OpenAI's
Batch API would, against the fake chat-completions app, and write the results files.

Each line's ``body`` is POSTed to the fake server (which screens it as the real server of that
flavour would: ``openai`` rejects what OpenAI rejects) with the line's ``custom_id`` as the
request key, so an answer equals what a live ``enrich run`` against the same server gets.
Results are written in the documented shapes (``formats.py``): ``vllm`` writes every line to
the output file (errors with ``status_code`` and ``error``); ``openai`` writes answers and HTTP
errors to the output file and requests that never ran to the error file
(``error.code == "batch_expired"``).

In a test::

    run_batch(Path("requests.jsonl"), Path("results.jsonl"), flavour="openai",
              errors=Path("errors.jsonl"), expire={3, 7})

As a process::

    python -m enrich.testing.fake_batch -i requests.jsonl -o results.jsonl --flavour vllm
"""

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import aiohttp
import orjson

from enrich.testing.fake_chat_app import KEY_HEADER
from enrich.testing.fake_server import AsyncFakeServer, FakeServerConfig

Flavour = Literal["openai", "vllm"]
EXPIRED = {"code": "batch_expired",
           "message": "This request could not be executed before the completion window "
                      "expired."}


def _output_line(flavour: Flavour, custom_id: str, status: int, body: Any) -> dict[str, Any]:
    request_id = f"vllm-batch-{uuid.uuid4().hex}" if flavour == "vllm" \
        else f"req_{uuid.uuid4().hex[:24]}"
    line_id = f"vllm-{uuid.uuid4().hex}" if flavour == "vllm" \
        else f"batch_req_{uuid.uuid4().hex[:24]}"
    if status == 200 or flavour == "openai":
        return {"id": line_id, "custom_id": custom_id, "response": {
            "status_code": status, "request_id": request_id, "body": body}, "error": None}
    # vLLM's make_error_request_output / ErrorResponse: no body, the error beside it
    return {"id": line_id, "custom_id": custom_id,
            "response": {"status_code": status, "request_id": request_id, "body": None},
            "error": body}


async def _run(requests: Path, config: FakeServerConfig, flavour: Flavour,
               expire: set[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lines = [orjson.loads(raw) for raw in requests.read_bytes().splitlines() if raw.strip()]
    output: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    async with AsyncFakeServer(config) as server, aiohttp.ClientSession() as session:
        for number, line in enumerate(lines, start=1):
            if number in expire:
                errors.append({"id": f"batch_req_{uuid.uuid4().hex[:24]}",
                               "custom_id": line["custom_id"], "response": None,
                               "error": EXPIRED})
                continue
            url = server.root_url + line["url"]
            async with session.post(url, json=line["body"],
                                    headers={KEY_HEADER: line["custom_id"]}) as response:
                body = orjson.loads(await response.read())
                output.append(_output_line(flavour, line["custom_id"], response.status, body))
    return output, errors


def run_batch(requests: Path, out: Path, *, flavour: Flavour = "openai",
              errors: Path | None = None, expire: set[int] | None = None,
              config: FakeServerConfig | None = None) -> None:
    """Answer every line of ``requests``; write the results to ``out`` (and ``errors``).

    Args:
        requests: a requests file (``enrich batch export``).
        out: the output file.
        flavour: ``openai`` or ``vllm`` (id shapes, error lines, the server's screening).
        errors: OpenAI's error file (expired lines); None: they go to ``out`` too.
        expire: 1-based line numbers that never run (``batch_expired``).
        config: the fake server's configuration (its ``dialect`` follows ``flavour``).
    """
    base = config or FakeServerConfig()
    config = base.model_copy(update={"dialect": "openai" if flavour == "openai" else "vllm"})
    output, expired = asyncio.run(_run(requests, config, flavour, expire or set()))
    if errors is None:
        output, expired = output + expired, []
    out.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in output))
    if errors is not None:
        errors.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in expired))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m enrich.testing.fake_batch -i REQUESTS -o RESULTS [--errors FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m enrich.testing.fake_batch",
        description=" ".join(__doc__.split("\n\n")[0].split()).replace("``", "`"))
    parser.add_argument("-i", "--input-file", type=Path, required=True,
                        help="requests file (`enrich batch export`)")
    parser.add_argument("-o", "--output-file", type=Path, required=True, help="results file")
    parser.add_argument("--errors", type=Path, default=None,
                        help="error file for requests that never ran (openai)")
    parser.add_argument("--flavour", choices=("openai", "vllm"), default="vllm",
                        help="whose batch runner to imitate (default: vllm)")
    parser.add_argument("--expire", type=int, action="append", default=[],
                        help="1-based line that never runs (repeatable)")
    parser.add_argument("--model", default="test-model",
                        help="the model the fake server serves (the export's --model)")
    arguments = parser.parse_args(argv)
    run_batch(arguments.input_file, arguments.output_file, flavour=arguments.flavour,
              errors=arguments.errors, expire=set(arguments.expire),
              config=FakeServerConfig(models=[arguments.model]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
