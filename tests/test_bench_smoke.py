"""The benchmark harness works (a 200-row run of targets 1 and 3); nothing about speed.

``make bench`` itself installs peers and takes many minutes, so CI runs only this.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

if str(REPO) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPO))


def test_enrich_and_the_peers_send_the_same_schema() -> None:
    from bench.workload import SCHEMA

    path = REPO / "bench" / "project" / "schemas" / "bench_keywords.py"
    spec = importlib.util.spec_from_file_location("bench_keywords_schema", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.BenchKeywords.model_json_schema() == SCHEMA


def test_the_shared_checker_rejects_what_the_schema_rejects() -> None:
    from bench.workload import is_valid_output

    assert is_valid_output('{"keywords": ["oak lamp"]}')
    assert is_valid_output({"keywords": ["a", "b", "c", "d", "e"]})
    assert not is_valid_output('{"keywords": []}')
    assert not is_valid_output({"keywords": ["a"] * 6})
    assert not is_valid_output({"keywords": ["x" * 41]})
    assert not is_valid_output({"keywords": ["a"], "extra": 1})
    assert not is_valid_output('{"keywords": ["a"')
    assert not is_valid_output(None)


def test_smoke_run_of_targets_1_and_3(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--smoke", "--rows", "200", "--concurrency",
         "16", "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    samples = json.loads((tmp_path / "results.json").read_text())["throughput"]["samples"]
    by_client = {s["client"]: s for s in samples}
    assert set(by_client) == {"enrich run", "enrich cached rerun", "bare aiohttp"}
    for name in ("enrich run", "bare aiohttp"):
        sample = by_client[name]
        assert sample["valid"] == sample["returned"] == 200, sample
        assert sample["server_requests"] == 200, sample
        assert sample["rows_per_s"] > 0 and sample["peak_rss_mb"] > 0
    rerun = by_client["enrich cached rerun"]
    assert rerun["server_requests"] == 0 and rerun["cached"] == 200, rerun
    assert "| 1 | `enrich run` vs bare aiohttp" in result.stdout
    assert (tmp_path / "RESULTS.md").read_text().startswith("# Benchmark results")


def test_the_scale_table_reports_the_median_pair_not_the_best() -> None:
    from bench.at_scale import markdown

    def sample(client: str, rows_per_s: float, rss: float) -> dict:
        return {"client": client, "rows": 1000, "concurrency": 256, "valid": 1000,
                "wall_s": 1000 / rows_per_s, "run_s": 1000 / rows_per_s, "cpu_s": 0.2,
                "peak_rss_mb": rss, "loadavg": "1 1 1"}

    pairs = [{"round": i + 1, "concurrency": 256, "enrich": sample("enrich run", ours, rss),
              "bare": sample("bare aiohttp", 1000, 90)}
             for i, (ours, rss) in enumerate([(950, 180), (700, 210), (820, 150)])]
    results = {"rows": 1000, "big_rows": 0, "command": "python -m bench.at_scale",
               "started": "s", "finished": "f", "load_start": "", "load_end": "",
               "machine": {"cpu": "cpu", "cores": 2}, "pairs": pairs}
    text = markdown(results)
    assert "0.82× whole process, median pair" in text
    assert "pairs in order: 0.95×, 0.70×, 0.82×" in text
    assert "210 MB, highest of its runs" in text  # the worst run, not the median pair's
