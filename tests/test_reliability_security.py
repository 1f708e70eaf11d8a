"""Security: the template sandbox, API keys that never leak, no network traffic but the backend,
and SQL sources that cannot write.
"""

import asyncio
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest
from aiohttp import web
from reliability_catalogue import PLANTED_KEY
from reliability_helpers import (
    ENRICH,
    job_yaml,
    make_project,
    process_env,
    run_cli,
    write_job,
)

from enrich.errors import ConfigError
from enrich.prompts import PromptFile, RenderError, template_variables
from enrich.testing.fake_server import FakeServer, FakeServerConfig

ROW = {"item_id": 1, "title": "Heat", "price": 3}


# -- the template sandbox ---------------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "{{ title.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(title) }}",
    "{% set c = row.__class__ %}{{ c.__subclasses__() }}",
    "{{ row.clear() }}{{ title }}",
    "{{ options.update({'x': 1}) }}",
    "{{ range.__self__.__import__('os') }}",
])
def test_template_cannot_reach_python_internals(template: str) -> None:
    prompt = PromptFile(name="p", schema="S", user=template)
    prompt.compile()
    row = dict(ROW)
    with pytest.raises(RenderError, match="blocked by the template sandbox|has no attribute"):
        prompt.render(template_variables(row))
    assert row == ROW  # the row was not changed either


@pytest.mark.parametrize("template", [
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os }}",
    "{% from '/etc/passwd' import x %}{{ x }}",
    "{% extends '/etc/passwd' %}",
    "{% if title %}{% include 'secrets.txt' %}{% endif %}",
])
def test_template_cannot_read_files(template: str) -> None:
    prompt = PromptFile(name="p", schema="S", user=template)
    with pytest.raises(ConfigError, match="cannot include, import or extend"):
        prompt.compile()


# -- API keys ---------------------------------------------------------------------------------

class EchoingServer:
    """An OpenAI-compatible server whose errors echo the Authorization header back (some
    gateways do), to check that the key is redacted from what enrich records and prints."""

    def __init__(self) -> None:
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "echo-model"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        echo = request.headers.get("Authorization", "")
        return web.json_response({"error": {"message": f"upstream refused {echo}"}}, status=500)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.add_routes([web.get("/v1/models", self._models),
                        web.post("/v1/chat/completions", self._chat)])
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> "EchoingServer":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _keyed_job(project: Path, url: str, name: str, model: str = "test-model") -> Path:
    text = job_yaml(url, name=name, backend_extra="api_key_env: SERVICE_KEY, max_retries: 0")
    text = text.replace("model: test-model", f"model: {model}")
    return write_job(project, text, f"{name}.yaml")


def _store_text_hits(db: Path, needle: str) -> list[str]:
    """Every table.column of the store whose text contains ``needle``."""
    hits = []
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                              "WHERE table_schema = 'main'").fetchall()
        for table, column in columns:
            n = con.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) '
                            "LIKE ?", [f"%{needle}%"]).fetchone()[0]
            if n:
                hits.append(f"{table}.{column}")
    return hits


def test_planted_api_key_never_reaches_store_logs_exports_or_errors(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    env = {"SERVICE_KEY": PLANTED_KEY}
    outputs: list[str] = []
    with FakeServer(FakeServerConfig(api_key=PLANTED_KEY)) as good, EchoingServer() as echo:
        ok_job = _keyed_job(project, good.url, "good")
        echo_job = _keyed_job(project, echo.url, "echo", model="echo-model")
        commands = [["run", str(ok_job), "--db", "e.duckdb"],
                    ["run", str(echo_job), "--db", "e.duckdb"],
                    ["status", "--db", "e.duckdb", "--check"],
                    ["status", "--db", "e.duckdb", "--json"]]
        commands += [["export", "good", "--format", fmt, "--out", f"out/good.{fmt}", "--db",
                      "e.duckdb"] for fmt in ("parquet", "jsonl", "csv")]
        for args in commands:
            result = run_cli(args, project, env)
            outputs.append(result.stdout + result.stderr)
        retry_id = duckdb.connect(str(project / "e.duckdb"), read_only=True).execute(
            "SELECT run_id FROM runs WHERE job_name = 'echo'").fetchone()[0]
        result = run_cli(["retry", retry_id, "--db", "e.duckdb"], project, env)
        outputs.append(result.stdout + result.stderr)
        # a fresh store: the rows must be sent (a rerun on e.duckdb needs no server at all)
        wrong = run_cli(["run", str(ok_job), "--db", "fresh.duckdb"], project,
                        {"SERVICE_KEY": PLANTED_KEY[::-1]})
        outputs.append(wrong.stdout + wrong.stderr)
    assert "rejected the API key" in wrong.stderr
    with duckdb.connect(str(project / "e.duckdb"), read_only=True) as con:
        messages = [m for (m,) in con.execute("SELECT message FROM failures").fetchall()]
    assert messages and all("upstream refused Bearer ***" in m for m in messages), messages
    assert not [o for o in outputs if PLANTED_KEY in o]
    assert _store_text_hits(project / "e.duckdb", PLANTED_KEY) == []
    assert _store_text_hits(project / "e.duckdb", "Bearer sk-") == []
    leaked = [str(p) for p in project.rglob("*") if p.is_file() and
              PLANTED_KEY.encode() in p.read_bytes()]
    assert leaked == []


# -- network ----------------------------------------------------------------------------------

def test_the_only_network_traffic_is_to_the_backend(tmp_path: Path) -> None:
    """Every socket ``enrich`` connects (as strace sees it, C++ libraries included) goes to the
    configured server: no telemetry, no extension downloads, no name lookups."""
    import subprocess

    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (the review in docs/reliability.md stands)")
    project = make_project(tmp_path / "project")
    with FakeServer(FakeServerConfig()) as server:
        job = write_job(project, job_yaml(server.url))
        connects = []
        for args in (["run", str(job), "--db", "e.duckdb", "-q"],
                     ["export", "items", "--out", "out.parquet", "--db", "e.duckdb"]):
            log = tmp_path / f"strace-{args[0]}.log"
            traced = subprocess.run([strace, "-f", "-qq", "-e", "trace=socket,connect", "-o",
                                     str(log),
                                     *ENRICH, *args], cwd=project, capture_output=True,
                                    text=True, timeout=120, env=process_env(project))
            if "Operation not permitted" in traced.stderr and not log.exists():
                pytest.skip("ptrace is not permitted here")
            assert traced.returncode == 0, traced.stderr
            connects += [line for line in log.read_text().splitlines()
                         if "connect(" in line or "socket(" in line]
    sockets = [c for c in connects if "socket(" in c]
    assert sockets, connects  # the run did talk to the server
    # only TCP sockets (no UDP: no name lookups), and only to the configured server
    assert all("socket(AF_INET, SOCK_STREAM" in c for c in sockets), sockets
    port = f"htons({server.port})"
    elsewhere = [c for c in connects if "connect(" in c and (port not in c or
                                                            '"127.0.0.1"' not in c)]
    assert elsewhere == [], elsewhere


# -- SQL sources ------------------------------------------------------------------------------

ATTACKS = [
    "DELETE FROM outputs",
    "DROP TABLE runs",
    "UPDATE runs SET status = 'tampered'",
    "INSERT INTO runs SELECT * FROM runs",
    "CREATE TABLE stolen AS SELECT * FROM requests",
    "SELECT row_id AS item_id, 'x' AS title FROM outputs; DELETE FROM outputs",
    "WITH gone AS (DELETE FROM outputs RETURNING *) SELECT row_id AS item_id FROM gone",
    "WITH t AS (UPDATE runs SET status = 'x' RETURNING *) SELECT run_id AS item_id FROM t",
    "WITH t AS (INSERT INTO failures SELECT * FROM failures RETURNING *) "
    "SELECT row_id AS item_id FROM t",
    "COPY outputs TO 'stolen.csv'",
    "ATTACH 'other.duckdb' AS other",
    "EXPORT DATABASE 'dump'",
    "CHECKPOINT",
    "SET memory_limit = '1MB'",
    "PRAGMA disable_checkpoint_on_shutdown",
]


def _snapshot(db: Path) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        parts = [sorted(map(str, con.execute(f"SELECT * FROM {t}").fetchall()))
                 for t in ("runs", "requests", "outputs", "failures", "prompt_versions")]
    return orjson.dumps(parts).decode()


@pytest.mark.parametrize("query", ATTACKS)
def test_a_job_sql_source_cannot_write_to_the_store(tmp_path: Path, query: str,
                                                    plain_server: FakeServer) -> None:
    project = make_project(tmp_path / "project")
    first = run_cli(write_and_args(project, job_yaml(plain_server.url)), project)
    assert first.code == 0, first.stderr
    before = _snapshot(project / "e.duckdb")
    escaped = query.replace("'", "''")
    text = job_yaml(plain_server.url, name="sql").replace(
        "path: data/items.csv", f"duckdb: e.duckdb, query: '{escaped}'")
    result = run_cli(write_and_args(project, text, "sql.yaml"), project)
    assert result.code == 2 and "must be one read-only SELECT" in result.stderr, result.stderr
    assert _snapshot(project / "e.duckdb") == before
    assert not (project / "stolen.csv").exists() and not (project / "dump").exists()


def test_a_job_sql_source_reads_the_store_and_another_file_read_only(
        tmp_path: Path, plain_server: FakeServer) -> None:
    project = make_project(tmp_path / "project")
    assert run_cli(write_and_args(project, job_yaml(plain_server.url)), project).code == 0
    before = _snapshot(project / "e.duckdb")
    text = job_yaml(plain_server.url, name="again").replace(
        "path: data/items.csv", "duckdb: e.duckdb, query: 'SELECT o.row_id AS item_id, "
        "q.output->>''label'' AS title FROM outputs o JOIN requests q USING (key)'")
    result = run_cli(write_and_args(project, text, "again.yaml"), project)
    assert result.code == 0, result.stderr
    with duckdb.connect(str(project / "e.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM outputs o JOIN runs r USING (run_id) "
                           "WHERE r.job_name = 'again'").fetchone()[0] == 5
    after = orjson.loads(_snapshot(project / "e.duckdb"))
    assert all(set(map(str, old)) <= set(map(str, new))
               for old, new in zip(orjson.loads(before), after, strict=True))
    other = project / "data" / "src.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE items AS SELECT 1 AS item_id, 'a' AS title")
    sneaky = job_yaml(plain_server.url, name="sneaky").replace(
        "path: data/items.csv", "duckdb: data/src.duckdb, query: 'WITH d AS (DELETE FROM items "
        "RETURNING *) SELECT * FROM d'")
    result = run_cli(write_and_args(project, sneaky, "sneaky.yaml"), project)
    assert result.code == 2 and "it contains DELETE" in result.stderr, result.stderr
    with duckdb.connect(str(other), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 1


@pytest.fixture(scope="module")
def plain_server() -> Iterator[FakeServer]:
    with FakeServer(FakeServerConfig()) as server:
        yield server


def write_and_args(project: Path, text: str, name: str = "job.yaml") -> list[str]:
    return ["run", str(write_job(project, text, name)), "--db", "e.duckdb", "-q"]


def test_only_the_http_backend_opens_connections() -> None:
    """Code review, automated: the one network client in the engine is the OpenAI-compatible
    backend's aiohttp session (the fake server in enrich/testing is a test tool); nothing
    imports another HTTP client or a telemetry SDK."""
    root = Path(__file__).resolve().parent.parent / "enrich"
    pattern = re.compile(r"^\s*(import|from)\s+(aiohttp|requests|urllib\.request|http\.client|"
                         r"httpx|urllib3|socket|sentry_sdk|posthog|segment|mixpanel|"
                         r"opentelemetry)\b", re.MULTILINE)
    offenders = {str(p.relative_to(root)) for p in root.rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))}
    # (server_watch.py: the run's probe of the same server, GET {base_url}/models, once its
    # requests stop connecting; backends/http_scoring.py: query likelihood on the same server's
    # /v1/completions; run_estimate.py: `enrich plan` asks the same server's /tokenize)
    allowed = {"backends/openai_http.py", "server_watch.py", "backends/http_scoring.py",
               "run_estimate.py"}
    assert {o for o in offenders if not o.startswith("testing/")} <= allowed
