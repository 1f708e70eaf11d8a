"""`enrich index build` and `enrich search` round trip through the CLI."""

import csv
import json
from pathlib import Path

from distill_fixtures import ITEMS
from typer.testing import CliRunner

from enrich.cli import app


def test_index_build_then_search(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    with items.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item_id", "title", "brand"])
        writer.writerows([i, text, "acme"] for i, text in ITEMS.items())
    runner = CliRunner()
    built = runner.invoke(app, ["index", "build", "--items", str(items), "--text-column",
                                "title", "--out", str(tmp_path / "index"), "--quiet"])
    assert built.exit_code == 0, built.output
    assert f"indexed {len(ITEMS)} items (exact" in built.output
    found = runner.invoke(app, ["search", "solar garden lights", "--index",
                                str(tmp_path / "index"), "-k", "2", "--json"])
    assert found.exit_code == 0, found.output
    hits = [json.loads(line) for line in found.output.splitlines() if line.startswith("{")]
    assert [h["rank"] for h in hits] == [1, 2] and hits[0]["item_id"] == "i5"
    assert hits[0]["metadata"]["brand"] == "acme"
    lexical = runner.invoke(app, ["search", "garden hose", "--index", str(tmp_path / "index"),
                                  "--bm25", "--json", "-k", "1"])
    assert json.loads(lexical.output.splitlines()[-1])["item_id"] == "i8"


def test_rerank_without_a_model_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text("{}")
    result = CliRunner().invoke(app, ["search", "q", "--index", str(tmp_path), "--rerank"])
    assert result.exit_code != 0
    assert "--reranker" in str(result.exception)
