"""The bad-input catalogue (``reliability_catalogue.py``), one test per case.

Every case must end with: the expected exit code (2 for a user's mistake), exactly one line on
stderr that contains the case's message, no traceback, and a store with nothing half-written
(untouched for mistakes caught before the first request). Row-level problems instead finish the
run and record the row in ``failures`` with the case's error kind.

``python tests/test_reliability_inputs.py`` prints the catalogue as the Markdown table kept in
``docs/errors.md``, with the message each case really produces.
"""

import re
import resource
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from reliability_catalogue import CASES, PLANTED_KEY, Case, Ctx, Invocation
from reliability_helpers import (
    REPO,
    CliResult,
    assert_store_sound,
    make_project,
    run_cli,
    run_cli_process,
    table_counts,
)

from enrich.testing.fake_server import FakeServer, FakeServerConfig, FaultRates

SERVERS = {
    "plain": FakeServerConfig(),
    "keyed": FakeServerConfig(api_key=PLANTED_KEY),
    "wrong_shape": FakeServerConfig(faults=FaultRates(wrong_shape=1.0)),
    "invalid_json": FakeServerConfig(faults=FaultRates(invalid_json=1.0)),
    "empty": FakeServerConfig(faults=FaultRates(empty_content=1.0)),
}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeServer]]:
    running = {name: FakeServer(config) for name, config in SERVERS.items()}
    for server in running.values():
        server.start()
    yield running
    for server in running.values():
        server.stop()


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def run_case(case: Case, project: Path, url: str) -> tuple[CliResult, Ctx]:
    ctx = Ctx(project, url)
    built = case.build(ctx)
    invocation = built if isinstance(built, Invocation) else Invocation(built)
    if invocation.process:
        limit = invocation.limit_file_size
        result = run_cli_process(invocation.args, project, invocation.env,
                                 preexec_fn=(lambda: _limit_file_size(limit)) if limit else None)
    else:
        result = run_cli(invocation.args, project, invocation.env)
    return result, ctx


def _failures(db: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT error_kind, message FROM failures").fetchall()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, servers: dict[str, FakeServer]) -> None:
    project = make_project(tmp_path / "project")
    result, ctx = run_case(case, project, servers[case.server].url)
    try:
        output = result.stdout + result.stderr
        assert "Traceback" not in output, output
        assert result.code == case.code, output
        db = project / "e.duckdb"
        if case.row_kind is not None:
            failures = _failures(db)
            assert any(kind == case.row_kind and case.message in message
                       for kind, message in failures), failures
        else:
            assert len(result.error_lines) == 1, result.stderr
            assert case.message in result.stderr, result.stderr
            assert result.error_lines[0].startswith("error: ")
        if case.store == "empty":
            assert set(table_counts(db).values()) == {0}, table_counts(db)
        elif case.store == "sound":
            assert_store_sound(db, project)
    finally:
        for cleanup in ctx.cleanups:
            cleanup()


def test_catalogue_is_documented() -> None:
    """docs/errors.md has a row for every case, showing (at least) the case's message."""
    text = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", text,
                                                       re.MULTILINE)}
    missing = [c.id for c in CASES if c.id not in rows]
    assert not missing, f"add these cases to docs/errors.md: {missing}"
    wrong = [c.id for c in CASES if c.message.replace("|", "\\|") not in rows[c.id]]
    assert not wrong, f"docs/errors.md shows another message for: {wrong}"
    assert len(CASES) >= 30


def _markdown_table() -> str:
    """The catalogue with the messages the cases really produce (paths shortened)."""
    import tempfile

    lines = ["| case | mistake | exit | what the user sees |", "| --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        running = {name: FakeServer(config) for name, config in SERVERS.items()}
        for server in running.values():
            server.start()
        try:
            for case in CASES:
                project = make_project(Path(tmp) / case.id / "project")
                result, ctx = run_case(case, project, running[case.server].url)
                for cleanup in ctx.cleanups:
                    cleanup()
                if case.row_kind is not None:
                    kind, message = next((k, m) for k, m in _failures(project / "e.duckdb")
                                         if k == case.row_kind)
                    seen = f"row recorded in `failures`: `{kind}`: {message}"
                else:
                    seen = result.error_lines[0] if result.error_lines else ""
                seen = seen.replace(str(project.parent), "…").replace(
                    running[case.server].url, "http://HOST:PORT/v1")
                seen = seen.replace("|", "\\|")
                lines.append(f"| `{case.id}` | {case.summary} | {result.code} | {seen} |")
        finally:
            for server in running.values():
                server.stop()
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    print(_markdown_table())
