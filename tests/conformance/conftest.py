"""Fixtures of the conformance suite: the real llama_cpp.server, the project, outcome records.

The real-server tests carry the ``realserver`` marker: ``make test`` (CI) runs them;
``pytest -m "not realserver"`` leaves them out. When llama_cpp is not importable they skip with
the reason; when it is but the server cannot start, they fail with the server's own message.
"""

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# This folder is a package (its __init__.py keeps this file from shadowing tests/conftest.py
# as the module `conftest`); its helper modules are imported by their plain names.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_run import make_project  # noqa: E402
from llama_server import LlamaServer, smollm2_path  # noqa: E402
from outcomes import merge_results, outcome_record, results_path, run_meta  # noqa: E402
from targets import Conformance  # noqa: E402

_HERE = Path(__file__).resolve().parent
_RECORDS: list[dict[str, Any]] = []
_COLLECTED: set[str] = set()
_SETUP_S: dict[str, float] = {}


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """``python -m llama_cpp.server`` with SmolLM2-135M on a free loopback port (session)."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not importable: install llama-cpp-python (`make setup`)")
    from enrich.errors import EnrichError
    from enrich.settings import EnrichSettings

    work = tmp_path_factory.mktemp("llama-server")
    try:
        model = smollm2_path(EnrichSettings().cache_dir)
    except EnrichError as exc:
        pytest.fail(f"the SmolLM2 GGUF for llama_cpp.server is not usable: {exc}")
    server = LlamaServer(model, work / "server.log")
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"llama_cpp.server did not start (are its extras installed? `make setup` "
                    f"installs them): {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> Conformance:
    """The suite's project (copies of the shipped prompts, schemas, jobs and samples)."""
    root = tmp_path_factory.mktemp("conformance")
    work = root / "work"
    work.mkdir()
    return Conformance(make_project(root / "project"), work)


def _is_conformance_test(item: pytest.Item) -> bool:
    path = Path(str(item.fspath))
    return path.parent == _HERE and path.name.startswith("test_conformance")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Record the outcome of every conformance check (see ``outcomes.py``)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not _is_conformance_test(item):
        return
    if report.when == "setup" and report.passed:
        _SETUP_S[item.nodeid] = report.duration  # the task runs happen in fixture setup
        return
    if report.when != "call" and report.passed:
        return  # teardown went fine: the call's report says it all
    message = ""
    if report.failed or report.skipped:
        text = report.longreprtext or ""
        if report.skipped and isinstance(report.longrepr, tuple):
            text = str(report.longrepr[2])
        message = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith("E ")),
                       text.strip().splitlines()[-1] if text.strip() else "")
    params = dict(getattr(item, "callspec", None).params) if hasattr(item, "callspec") else {}
    record = outcome_record(item.nodeid, getattr(item, "originalname", item.name), params,
                            report.outcome, message[:400], dict(item.user_properties),
                            report.duration + _SETUP_S.pop(item.nodeid, 0.0))
    _RECORDS.append(record)
    merge_results(results_path(), [record], {})  # at once: a session cut short keeps its records


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Remember every conformance test collected, before ``-m``/``-k`` deselect any."""
    _COLLECTED.update(item.nodeid for item in items if _is_conformance_test(item))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _RECORDS:
        merge_results(results_path(), _RECORDS, run_meta(), _COLLECTED)
