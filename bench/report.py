"""The benchmark's table: targets met or missed, best rounds, every sample; and RESULTS.md."""

import os
import platform
from collections.abc import Iterable
from typing import Any

Row = list[str]


def table(header: Row, rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def best(samples: list[dict[str, Any]], client: str, concurrency: int) -> dict[str, Any] | None:
    """The round with the most valid rows per second of one client at one concurrency."""
    mine = [s for s in samples if s["client"] == client and s["concurrency"] == concurrency]
    return max(mine, key=lambda s: s["rows_per_s"], default=None)


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("**yes**" if ok else "**no**")


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b or not b["rows_per_s"]:
        return None
    return a["rows_per_s"] / b["rows_per_s"]


def _cpu_ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    """How many times more whole-process CPU per valid row ``a`` used than ``b``."""
    if not a or not b or not a["valid"] or not b["valid"] or not b["cpu_s"]:
        return None
    return (a["cpu_s"] / a["valid"]) / (b["cpu_s"] / b["valid"])


def _fmt(x: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def throughput_targets(t: dict[str, Any], concurrencies: list[int]) -> list[Row]:
    samples, rows = t["samples"], []
    for c in concurrencies:
        e, a = best(samples, "enrich run", c), best(samples, "bare aiohttp", c)
        r = _ratio(e, a)
        cpu = _cpu_ratio(e, a)
        rows.append(["1", f"`enrich run` vs bare aiohttp, rows/s, c={c}",
                     f"{_fmt(r, '.2f', '×')} ({_fmt(e and e['rows_per_s'], ',.0f')} vs "
                     f"{_fmt(a and a['rows_per_s'], ',.0f')}); CPU per row "
                     f"{_fmt(cpu, '.2f', '×')} the bare loop's", "≥ 0.8×",
                     _verdict(None if r is None else r >= 0.8)])
    for peer in ("curator", "distilabel"):
        for c in concurrencies:
            e, p = best(samples, "enrich run", c), best(samples, peer, c)
            if p is None:
                continue
            r = _ratio(e, p)
            cpu = _cpu_ratio(p, e)
            rows.append(["2", f"`enrich run` vs {peer}, rows/s, c={c}",
                         f"{_fmt(r, '.1f', '×')} ({_fmt(e and e['rows_per_s'], ',.0f')} vs "
                         f"{_fmt(p['rows_per_s'], ',.0f')}); CPU per row "
                         f"{_fmt(cpu, '.1f', '×')} less", "≥ 5×",
                         _verdict(None if r is None else r >= 5)])
    reruns = [s for s in samples if s["client"] == "enrich cached rerun"]
    if reruns:
        fastest = min(reruns, key=lambda s: s["wall_s"])
        requests = max(s["server_requests"] for s in reruns)
        rows.append(["3", f"cached rerun of the finished {fastest['valid']:,}-row job, "
                     "whole process",
                     f"{fastest['wall_s']:.2f} s (CPU {fastest['cpu_s']:.2f} s), "
                     f"{requests} requests", "≤ 1.0 s, 0 requests",
                     _verdict(fastest["wall_s"] <= 1.0 and requests == 0)])
    helps = t.get("help") or []
    if helps:
        fastest = min(helps, key=lambda s: s["wall_s"])
        rows.append(["4", "`enrich --help`, whole process",
                     f"{fastest['wall_s']:.2f} s (CPU {fastest['cpu_s']:.2f} s)", "≤ 0.3 s",
                     _verdict(fastest["wall_s"] <= 0.3 and all(h["ok"] for h in helps))])
    return rows


def scale_targets(t: dict[str, Any], s: dict[str, Any]) -> list[Row]:
    runs = {r["rows"]: r for r in s["runs"]}
    small, big = runs[min(runs)], runs[max(runs)]
    five = [x for x in t["samples"] if x["client"] == "enrich run"]
    rss5 = max((x["peak_rss_mb"] for x in five), default=None)
    growth = big["peak_rss_mb"] / small["peak_rss_mb"] - 1
    rate = big["rows_per_s"] / small["rows_per_s"] if small["rows_per_s"] else None
    r = s["resume"]
    return [
        ["5", f"peak RSS of `enrich run`, {five[0]['valid'] if five else 0:,} rows",
         f"{_fmt(rss5, '.0f', ' MB')}", "≤ 150 MB", _verdict(rss5 is not None and rss5 <= 150)],
        ["5", f"peak RSS, {big['rows']:,} rows from Parquet", f"{big['peak_rss_mb']:.0f} MB",
         "≤ 300 MB", _verdict(big["peak_rss_mb"] <= 300)],
        ["5", f"RSS growth {small['rows']:,} → {big['rows']:,} rows",
         f"{100 * growth:+.0f}% ({small['peak_rss_mb']:.0f} → {big['peak_rss_mb']:.0f} MB)",
         "≤ 20%", _verdict(growth <= 0.20)],
        ["6", f"rows/s at {big['rows']:,} vs {small['rows']:,} rows",
         f"{_fmt(rate, '.2f', '×')} ({big['rows_per_s']:,.0f} vs {small['rows_per_s']:,.0f})",
         "≥ 0.9× (no slow-down)", _verdict(rate is not None and rate >= 0.9)],
        ["7", f"resume of the {r['rows']:,}-row job killed half-way: first new request",
         f"{r['to_first_request_s']:.2f} s; re-sent {r['resume_requests']:,} of "
         f"{r['expected_resends']:,} pending; every row once: {r['exactly_once']}", "≤ 2 s",
         _verdict(r["to_first_request_s"] <= 2 and r["exactly_once"])],
        ["7", f"rerun of the finished {r['rows']:,}-row job, whole process",
         f"{r['rerun_wall_s']:.2f} s (CPU {r['rerun_cpu_s']:.2f} s), {r['rerun_requests']} "
         "requests", "≤ 5 s, 0 requests",
         _verdict(r["rerun_wall_s"] <= 5 and r["rerun_requests"] == 0)],
    ]


def llama_targets(ll: dict[str, Any]) -> list[Row]:
    samples = ll.get("samples") or []
    by_mode = {m: [x for x in samples if x["mode"] == m] for m in ("direct", "enrich")}
    if not by_mode["direct"] or not by_mode["enrich"]:
        return [["8", "embedded llamacpp vs llama-cpp-python", ll.get("error", "not run"),
                 "within 10%", "—"]]
    d = max(by_mode["direct"], key=lambda x: x["tokens_per_s"])
    e = max(by_mode["enrich"], key=lambda x: x["tokens_per_s"])
    dc = max(x["tokens_per_cpu_s"] for x in by_mode["direct"])
    ec = max(x["tokens_per_cpu_s"] for x in by_mode["enrich"])
    same = len({x["outputs"] for x in samples}) == 1
    ratio = e["tokens_per_s"] / d["tokens_per_s"]
    return [["8", "embedded `llamacpp` backend vs llama-cpp-python directly, tokens/s",
             f"{ratio:.2f}× ({e['tokens_per_s']:.1f} vs {d['tokens_per_s']:.1f}; per CPU-s "
             f"{ec:.1f} vs {dc:.1f}; same text: {same})", "within 10%",
             _verdict(0.9 <= ratio <= 1.1 and same)]]


def store_targets(st: dict[str, Any], s: dict[str, Any] | None) -> list[Row]:
    fast, again = st["writes"]
    run = st["run"]
    rows = [["9", "DuckDB batched inserts (batches of 512), rows/s written",
             f"{fast['rows_per_s']:,.0f} rows/s ({fast['cpu_us_per_row']:.0f} µs CPU/row); "
             f"every key already stored (a second run): {again['rows_per_s']:,.0f} rows/s "
             f"({again['cpu_us_per_row']:.0f} µs/row)", "report", "—"],
            ["9", f"transactions in a {run['rows']:,}-row run",
             f"{run['transactions']} commits, {run['rows_per_transaction_mean']:.0f} rows each "
             f"on average (max {run['rows_per_transaction_max']})", "no per-row transactions",
             _verdict(run["transactions"] < run["rows"] / 10)]]
    if s:
        big = max(s["runs"], key=lambda r: r["rows"])
        rows.append(["9", f"bytes on disk per 1,000 rows ({big['rows']:,}-row run's store)",
                     f"{big['db_bytes'] * 1000 / big['rows'] / 1024:,.0f} KiB", "report", "—"])
    return rows


def machine() -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    return {"cpu": cpu, "cores": str(os.cpu_count()), "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version()}
