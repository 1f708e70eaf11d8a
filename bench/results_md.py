"""Render the results of one benchmark run as the printed table and as ``bench/RESULTS.md``."""

from typing import Any

from bench.report import (
    best,
    llama_targets,
    scale_targets,
    store_targets,
    table,
    throughput_targets,
)

TARGET_HEADER = ["#", "target", "measured (one run)", "goal", "met"]


def target_rows(results: dict[str, Any]) -> list[list[str]]:
    t, cfg = results["throughput"], results["config"]
    rows = throughput_targets(t, cfg["concurrency"])
    if results.get("scale"):
        rows += scale_targets(t, results["scale"])
    if results.get("llamacpp"):
        rows += llama_targets(results["llamacpp"])
    if results.get("store"):
        rows += store_targets(results["store"], results.get("scale"))
    return rows


def throughput_rows(results: dict[str, Any]) -> list[list[str]]:
    samples, cfg = results["throughput"]["samples"], results["config"]
    rows = []
    clients = list(dict.fromkeys(s["client"] for s in samples))
    for client in clients:
        for c in cfg["concurrency"]:
            s = best(samples, client, c)
            if s is None:
                continue
            rows.append([client, str(c), f"{s['valid']:,} / {s['returned']:,}",
                         f"{s['rows_per_s']:,.0f}", f"{s['run_s']:.2f}", f"{s['wall_s']:.2f}",
                         f"{s['cpu_s']:.2f}", f"{1000 * s['cpu_s'] / max(s['valid'], 1):.2f}",
                         f"{s['peak_rss_mb']:.0f}"
                         + (f" ({s['tree_rss_mb']:.0f})" if s["tree_rss_mb"] > s["peak_rss_mb"]
                            + 1 else ""), f"{s['server_requests']:,}",
                         s.get("error", "")])
    return rows


THROUGHPUT_HEADER = ["client", "conc.", "valid / returned rows", "rows/s", "run s",
                     "process s", "CPU s", "CPU ms/row", "peak RSS MB (tree)",
                     "server requests", "error"]


def sample_rows(results: dict[str, Any]) -> list[list[str]]:
    return [[str(s["round"]), s["client"], str(s["concurrency"]), f"{s['valid']:,}",
             f"{s['rows_per_s']:,.0f}", f"{s['wall_s']:.2f}", f"{s['cpu_s']:.2f}",
             f"{s['peak_rss_mb']:.0f}", f"{s['server_requests']:,}", s["loadavg"]]
            for s in results["throughput"]["samples"]]


def console_report(results: dict[str, Any]) -> str:
    return "\n\n".join([table(TARGET_HEADER, target_rows(results)),
                        table(THROUGHPUT_HEADER, throughput_rows(results))])


def _extra_sections(results: dict[str, Any]) -> list[str]:
    parts = []
    if results.get("scale"):
        runs = results["scale"]["runs"]
        parts += ["## Scale (rows streamed from Parquet)", table(
            ["rows", "conc.", "valid", "rows/s", "run s", "process s", "CPU s", "peak RSS MB",
             "store file MB", "load"],
            [[f"{r['rows']:,}", str(r["concurrency"]), f"{r['valid']:,}",
              f"{r['rows_per_s']:,.0f}", f"{r['run_s']:.1f}", f"{r['wall_s']:.1f}",
              f"{r['cpu_s']:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['db_bytes'] / 2**20:.1f}",
              r["loadavg"]] for r in runs])]
        r = results["scale"]["resume"]
        parts.append(f"Resume: killed (SIGKILL) after the server had seen "
                     f"{r['sent_before_kill']:,} requests, with {r['stored_at_kill']:,} rows "
                     f"committed; the new process sent its first request after "
                     f"{r['to_first_request_s']:.2f} s and {r['resume_requests']:,} in all "
                     f"(rows not committed at the kill: {r['expected_resends']:,}); finished "
                     f"in {r['resume_wall_s']:.1f} s; every row stored exactly once: "
                     f"{r['exactly_once']} (load {r['loadavg']}).")
    if results.get("llamacpp", {}).get("samples"):
        parts += ["## Embedded llama.cpp (SmolLM2-135M, 64 new tokens per prompt)", table(
            ["round", "mode", "tokens", "s", "tokens/s", "tokens/CPU-s", "output hash", "load"],
            [[str(x["round"]), x["mode"], str(x["tokens"]), f"{x['seconds']:.1f}",
              f"{x['tokens_per_s']:.1f}", f"{x['tokens_per_cpu_s']:.1f}", x["outputs"],
              x["loadavg"]] for x in results["llamacpp"]["samples"]])]
    return parts


def results_markdown(results: dict[str, Any], preamble: str) -> str:
    parts = [preamble, "## Targets", table(TARGET_HEADER, target_rows(results)),
             "## Throughput: the same 5,000 structured requests (best round of each)",
             table(THROUGHPUT_HEADER, throughput_rows(results))]
    parts += _extra_sections(results)
    parts += ["## Every throughput sample", table(
        ["round", "client", "conc.", "valid", "rows/s", "process s", "CPU s", "peak RSS MB",
         "server requests", "load average (1/5/15 min)"], sample_rows(results))]
    return "\n\n".join(parts) + "\n"
