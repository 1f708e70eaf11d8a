"""Reference client: a bare ``aiohttp`` loop, no validation, no storage (the ceiling)."""

import asyncio
import json
from importlib.metadata import version

import aiohttp

from bench.workload import (
    ClientArgs,
    ClientReport,
    Timer,
    make_rows,
    request_body,
)


async def _run(args: ClientArgs, rows: list[dict[str, str]]) -> dict[str, str]:
    answers: dict[str, str] = {}
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for row in rows:
        queue.put_nowait(row)
    url = f"{args.url}/chat/completions"
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                row = queue.get_nowait()
                body = json.dumps(request_body(row))
                async with session.post(url, data=body,
                                        headers={"Content-Type": "application/json"}) as resp:
                    data = await resp.json()
                answers[row["id"]] = data["choices"][0]["message"]["content"]

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return answers


def main() -> None:
    args = ClientArgs.parse()
    rows = make_rows(args.rows)
    report = ClientReport("bare aiohttp", args.rows, args.concurrency,
                          version=f"aiohttp {version('aiohttp')}")
    with Timer() as timer:
        answers = asyncio.run(_run(args, rows))
    report.finish(timer.seconds, rows, answers)


if __name__ == "__main__":
    main()
