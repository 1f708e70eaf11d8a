"""Reference client: a bare ``openai.AsyncOpenAI`` loop (default transport), no validation or
storage; the schema goes in ``extra_body`` exactly as the bare aiohttp loop sends it."""

import asyncio
from importlib.metadata import version

from openai import AsyncOpenAI

from bench.workload import (
    MAX_TOKENS,
    MODEL,
    SCHEMA,
    TEMPERATURE,
    ClientArgs,
    ClientReport,
    Timer,
    make_rows,
    messages_for,
)


async def _run(args: ClientArgs, rows: list[dict[str, str]]) -> dict[str, str | None]:
    client = AsyncOpenAI(base_url=args.url, api_key="unused", max_retries=0)
    answers: dict[str, str | None] = {}
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for row in rows:
        queue.put_nowait(row)

    async def worker() -> None:
        while not queue.empty():
            row = queue.get_nowait()
            response = await client.chat.completions.create(
                model=MODEL, messages=messages_for(row),  # type: ignore[arg-type]
                temperature=TEMPERATURE, max_tokens=MAX_TOKENS,
                extra_body={"structured_outputs": {"json": SCHEMA}})
            answers[row["id"]] = response.choices[0].message.content

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    await client.close()
    return answers


def main() -> None:
    args = ClientArgs.parse()
    rows = make_rows(args.rows)
    report = ClientReport("bare openai SDK", args.rows, args.concurrency,
                          version=f"openai {version('openai')}")
    with Timer() as timer:
        answers = asyncio.run(_run(args, rows))
    report.finish(timer.seconds, rows, answers)


if __name__ == "__main__":
    main()
