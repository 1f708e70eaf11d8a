"""Target 8: tokens/s of the embedded llama.cpp backend vs llama-cpp-python called directly.

``--mode direct`` calls ``Llama.create_chat_completion``; ``--mode enrich`` sends the same
requests through ``enrich``'s ``LlamaCppBackend.generate``. Same model (SmolLM2-135M), same
messages, ``max_tokens=64``, ``temperature=0``, same seed, threads and context; model loading
is not timed. Prints ``REPORT {json}`` with tokens, seconds and a hash of the outputs (the two
modes should generate the same text).
"""

import argparse
import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

MODEL = "smollm2-135m"
PARAMS = {"max_tokens": 64, "temperature": 0.0, "seed": 7}
N_CTX = 2048
THREADS = 1
TITLES = ("cordless drill with two batteries", "brass floor lamp", "oak dining chair",
          "50 ft garden hose", "white interior paint, 1 gallon", "floating wall shelf",
          "kitchen faucet with pull-down sprayer", "electric lawn mower")


def _messages(title: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Describe this product for a shop page in three "
                                        f"sentences: {title}"}]


def _direct(model_path: Path, prompts: int) -> tuple[list[str], int, float, float]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), n_ctx=N_CTX, n_threads=THREADS, verbose=False)
    texts, tokens = [], 0
    started, cpu = time.perf_counter(), time.process_time()
    for title in TITLES[:prompts]:
        out: Any = llm.create_chat_completion(messages=_messages(title), **PARAMS)
        texts.append(out["choices"][0]["message"]["content"])
        tokens += out["usage"]["completion_tokens"]
    return texts, tokens, time.perf_counter() - started, time.process_time() - cpu


def _enrich(prompts: int, cache_dir: Path) -> tuple[list[str], int, float, float]:
    from enrich.backends.base import LLMRequest
    from enrich.backends.llamacpp import LlamaCppBackend
    from enrich.jobs import BackendSpec

    spec = BackendSpec(kind="llamacpp", model=MODEL, n_ctx=N_CTX, n_threads=THREADS)
    backend = LlamaCppBackend(spec, cache_dir, n_threads=THREADS)

    async def run() -> tuple[list[str], int, float, float]:
        await backend.start()

        async def requests() -> Any:
            for i, title in enumerate(TITLES[:prompts]):
                yield LLMRequest(f"k{i}", f"r{i}", _messages(title), dict(PARAMS))

        texts, tokens = [], 0
        started, cpu = time.perf_counter(), time.process_time()
        async for result in backend.generate(requests()):
            texts.append(result.content or "")
            tokens += result.completion_tokens
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await backend.close()
        return texts, tokens, elapsed, cpu

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("direct", "enrich"), required=True)
    parser.add_argument("--prompts", type=int, default=len(TITLES))
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "enrich")
    args = parser.parse_args()
    from enrich.backends.model_files import locate_model

    if args.mode == "direct":
        texts, tokens, seconds, cpu = _direct(locate_model(MODEL, args.cache_dir), args.prompts)
    else:
        texts, tokens, seconds, cpu = _enrich(args.prompts, args.cache_dir)
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]
    print("REPORT " + json.dumps({"mode": args.mode, "tokens": tokens, "seconds": seconds,
                                  "cpu_s": cpu, "tokens_per_s": tokens / seconds,
                                  "tokens_per_cpu_s": tokens / cpu, "outputs": digest}))


if __name__ == "__main__":
    main()
