"""Suite files and golden sets: every mistake is one error naming the file, field and fix."""

from pathlib import Path

import pytest

from enrich.errors import ConfigError
from enrich.evaluate.golden import load_golden, load_qrels, numeric_column
from enrich.evaluate.suites import load_suite, suite_path

GOOD = """name: s
kind: labels
golden: {path: data/g.csv, id_column: pair_id}
job: {prompt: judge}
human: {column: relevance}
"""


def write(project: Path, text: str, name: str = "s.yaml") -> Path:
    folder = project / "eval" / "suites"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_a_valid_suite_loads_with_defaults(project: Path) -> None:
    suite = load_suite(write(project, GOOD))
    assert suite.root == project.resolve()
    assert suite.metric_names()[:2] == ["roc_auc", "kappa"]
    assert suite.bootstrap.resamples == 1000 and suite.predictions.view == "match_labels"
    assert suite.resolve("data/g.csv") == project.resolve() / "data" / "g.csv"


def test_a_suite_is_found_by_name(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, GOOD)
    monkeypatch.chdir(project)
    assert load_suite("s").name == "s"
    with pytest.raises(ConfigError, match="no suite `nope`") as info:
        suite_path("nope")
    assert "known suites: s" in info.value.hint


@pytest.mark.parametrize(("text", "message"), [
    (GOOD + "colour: blue\n", "`colour`: unknown key"),
    (GOOD.replace("kind: labels", "kind: vibes"), "`kind`: Input should be"),
    (GOOD.replace("job: {prompt: judge}\n", ""), "needs a `job` section"),
    (GOOD.replace("human: {column: relevance}\n", ""), "needs a `human` section"),
    (GOOD + "metrics: [roc_auc, ndcg@10]\n", "unknown metric(s) for a labels suite: ndcg@10"),
    (GOOD + "thresholds: {mrr: {min: 0.1}}\n", "threshold on a metric the suite does not"),
    (GOOD + "bootstrap: {level: 1.5}\n", "`bootstrap.level`"),
    ("name: r\nkind: retrieval\ngolden: {path: q.jsonl, id_column: query_id}\n",
     "needs `golden.qrels`"),
    ("name: [unclosed\n", "is not valid YAML"),
    ("- a list\n", "must be a YAML mapping"),
])
def test_suite_mistakes_are_actionable(project: Path, text: str, message: str) -> None:
    path = write(project, text)
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert message in info.value.message
    assert str(path.name) in info.value.message
    assert info.value.hint


def test_missing_suite_file(project: Path) -> None:
    with pytest.raises(ConfigError, match="suite file not found"):
        load_suite(project / "eval" / "suites" / "gone.yaml")


def test_golden_set_errors(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("pair_id,relevance\n1,2.5\n1,3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate id"):
        load_golden(path, "pair_id")
    with pytest.raises(ConfigError, match="no column"):
        load_golden(path, "id")
    with pytest.raises(ConfigError, match="golden file not found") as info:
        load_golden(tmp_path / "none.csv", "id")
    assert "build_golden.py" in info.value.hint
    path.write_text("pair_id,relevance\n1,2.5\n2,high\n", encoding="utf-8")
    frame = load_golden(path, "pair_id", ["relevance"])
    with pytest.raises(ConfigError, match=r"not a number in row 3 \('high'\)"):
        numeric_column(frame, "relevance", path)


def test_golden_jsonl_and_qrels(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text('{"query_id": 8, "text": "a"}\n{"query_id": 9, '
                                      '"text": "b"}\n', encoding="utf-8")
    frame = load_golden(tmp_path / "q.jsonl", "query_id")
    assert frame["query_id"].tolist() == ["8", "9"]
    (tmp_path / "r.tsv").write_text("query_id\tdoc_id\tgain\n8\t1\t4\n8\t2\t0\n")
    assert load_qrels(tmp_path / "r.tsv") == {"8": {"1": 4, "2": 0}}
    (tmp_path / "r.tsv").write_text("query_id\tdoc_id\tgain\n8\t1\tx\n")
    with pytest.raises(ConfigError, match="line 2: gain 'x'"):
        load_qrels(tmp_path / "r.tsv")


def test_shipped_suites_load_and_their_golden_files_exist() -> None:
    from conftest import REPO

    for path in sorted((REPO / "eval" / "suites").glob("*.yaml")):
        suite = load_suite(path)
        assert suite.resolve(suite.golden.path).is_file(), path
        assert suite.golden.license, f"{path}: golden data needs its license"
