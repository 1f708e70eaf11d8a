"""Target 8: the embedded llama.cpp backend vs llama-cpp-python called directly.

Each mode runs in its own process (``bench.clients.llamacpp_tokens``), interleaved, for
several rounds; the best round of each counts. Tokens per wall second are what the target
names; tokens per CPU second are reported too, because on a busy machine they are what stays
comparable. The two modes must generate the same text (same model, prompt, parameters).
"""

import sys
from collections.abc import Callable
from typing import Any

from bench.procs import run_measured
from bench.throughput import loadavg
from bench.workload import parse_report


def llamacpp(rounds: int, prompts: int, log: Callable[[str], None]) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    for round_ in range(1, rounds + 1):
        for mode in ("direct", "enrich"):
            load = loadavg()
            run = run_measured([sys.executable, "-m", "bench.clients.llamacpp_tokens",
                                "--mode", mode, "--prompts", str(prompts)])
            report = parse_report(run.stdout)
            if report is None:
                error = (run.stderr.strip().splitlines() or ["no output"])[-1]
                log(f"  llamacpp {mode}: failed: {error}")
                return {"error": error, "samples": samples}
            report.update(round=round_, loadavg=load, peak_rss_mb=run.peak_rss_mb)
            samples.append(report)
            log(f"  r{round_} {mode:<6} {report['tokens']} tokens, "
                f"{report['tokens_per_s']:.1f} tokens/s, {report['tokens_per_cpu_s']:.1f} "
                f"tokens/CPU-s (load {load})")
    return {"samples": samples}
