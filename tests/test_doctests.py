"""Every ``>>>`` example in ``enrich/`` runs (or is marked ``# doctest: +SKIP`` because it needs a
model, a server or a store), as ``pytest --doctest-modules`` would, in the default test run.

Modules are found by their text, so a new module with an example is checked without a list to
keep up to date. Examples run in an empty folder with the environment restored afterwards.
"""

import doctest
import importlib
import os
from pathlib import Path

import pytest

from enrich.optional import extra_for

ENRICH = Path(__file__).resolve().parent.parent / "enrich"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# modules whose examples load a model (the MiniLM bi-encoder): with the other real-model tests
SLOW = {"enrich.distill.teachers"}
# another engineer is rewriting enrich/tasks (issue 18, part A); its example needs a scorer
KNOWN_BROKEN: dict[str, str] = {}  # module → reason (xfail); keep empty


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(ENRICH.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(ENRICH.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _param(name: str) -> object:
    marks = []
    if name in SLOW:
        marks.append(pytest.mark.slow)
    if name in KNOWN_BROKEN:
        marks.append(pytest.mark.xfail(reason=KNOWN_BROKEN[name], strict=False))
    return pytest.param(name, marks=marks, id=name)


MODULES = _modules_with_examples()


def test_the_examples_are_found() -> None:
    assert len(MODULES) > 50
    assert "enrich.evaluate.auc" in MODULES and "enrich.evaluate.metrics" in MODULES


@pytest.mark.parametrize("name", [_param(n) for n in MODULES])
def test_module_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and extra_for(exc.name.split(".")[0]):
            pytest.skip(f"{name} needs the optional package {exc.name}")
        raise
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    saved = dict(os.environ)
    try:
        finder = doctest.DocTestFinder(exclude_empty=True)
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        for test in finder.find(module, name):
            runner.run(test)
        result = runner.summarize(verbose=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
