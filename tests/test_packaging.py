"""The wheel is the product: build it, install it into a fresh virtual environment, and use it
from an empty folder the way a user does (init, a job, the dashboard, the built-in library).

The fresh environment is made without system site-packages; enrich comes only from the wheel
(installed with ``pip install --no-deps``). Its dependencies are the ones this checkout's
environment already has, reached through a ``.pth`` line that adds that site-packages folder
*after* the fresh one — plain path, so the checkout's editable-install hook is never run. It
all works offline and takes about a minute on 2 busy cores (marked slow).

The fast tests below check what the wheel relies on without building it: no path of one
machine anywhere, documentation links that stay inside the repository, data locations from
options and ``ENRICH_DATA``, and the list of files the build step ships.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent  # the checkout

SKIP = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                              "*.duckdb", "*.duckdb.wal", "workdir", "envs", ".pytest_cache",
                              ".ruff_cache", "distill-demo-work", "out*")


def _run(command: list[str], cwd: Path, timeout: float = 300, **env: str
         ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **env})
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-3000:])
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the checkout (the build leaves build/ and
    egg-info behind, which must not land in the shared working tree)."""
    root = tmp_path_factory.mktemp("build")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=SKIP)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", str(root / "dist"), str(source)], cwd=root)
    (built,) = (root / "dist").glob("enrich-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ folder."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                    "['purelib'])"], cwd=venv).stdout.strip()
    (Path(purelib) / "enrich-test-deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
         cwd=venv)
    return venv / "bin"


@pytest.mark.slow
def test_the_wheel_ships_the_product_and_nothing_private(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for prompt in (REPO / "prompts").glob("*.yaml"):
        assert f"enrich/_builtin/prompts/{prompt.name}" in names
    for schema in (REPO / "schemas").glob("*.py"):
        assert f"enrich/_builtin/schemas/{schema.name}" in names
    for job in (REPO / "jobs").glob("*.yaml"):
        assert f"enrich/_builtin/jobs/{job.name}" in names
    assert {"enrich/dashboard/app.py", "enrich/dashboard/views/labels.py",
            "enrich/_builtin/starter/README.md", "enrich/_builtin/starter/data/items.csv",
            "enrich/_builtin/eval/suites/cranfield_retrieval.yaml",
            "enrich/_builtin/eval/golden/cranfield_docs.jsonl",
            "enrich/testing/fake_server.py"} <= names
    # Kaggle data (internal use only) and the suite that needs it stay in the repository
    assert not any("homedepot_bad_match" in n or "bad_match_homedepot" in n for n in names)
    assert all(n.startswith(("enrich/", "enrich-")) for n in names), sorted(names)[:5]


@pytest.mark.slow
def test_installed_package_comes_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    where = _run([str(installed / "python"), "-c", "import enrich, enrich._builtin as b; "
                  "print(enrich.__file__); print(b.builtin_root())"], cwd=tmp_path).stdout
    package, library = where.split()
    assert package.startswith(str(installed.parent)) and "site-packages" in package
    assert library.startswith(str(installed.parent)) and library.endswith("_builtin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fake_server(python: Path, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([str(python), "-m", "enrich.testing.fake_server", "--port", "0",
                               "--model", "test-model"], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline() if server.stdout else ""
    assert line.startswith("READY "), (line, server.stderr.read() if server.stderr else "")
    return server, line.split()[1]


def _get(url: str, deadline_s: float = 90) -> str:
    started, error = time.monotonic(), None
    while time.monotonic() - started < deadline_s:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - localhost
                return response.read().decode()
        except OSError as exc:
            error = exc
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {deadline_s} s: {error}")


@pytest.mark.slow
def test_a_user_folder_from_init_to_dashboard(installed: Path, tmp_path: Path) -> None:
    """From an empty folder: init, a job against the fake server, the lists, an evaluation
    suite, the dashboard (served for real, and its runs page rendered) — nothing written into
    the installed package."""
    enrich = str(installed / "enrich")
    site = Path(_run([str(installed / "python"), "-c", "import enrich; print(enrich.__file__)"],
                     cwd=tmp_path).stdout.strip()).parent
    before = sorted(p for p in site.rglob("*") if "__pycache__" not in p.parts)
    _run([enrich, "init", "demo"], cwd=tmp_path)
    demo = tmp_path / "demo"
    server, url = _fake_server(installed / "python", tmp_path)
    try:
        _run([enrich, "run", "jobs/item_metadata.yaml", "--backend", "openai", "--base-url",
              url, "--model", "test-model", "-q"], cwd=demo)
        suite = _run([enrich, "eval", "run", "cranfield_queries_generation", "--backend",
                      "openai", "--base-url", url, "--model", "test-model", "--limit", "4",
                      "--resamples", "50", "--db", "eval.duckdb", "-q"], cwd=demo)
    finally:
        server.terminate()
        server.wait(timeout=30)
    status = json.loads(_run([enrich, "status", "--json"], cwd=demo).stdout)
    job_run = next(r for r in status if r["job_name"] == "starter-item-metadata")
    assert job_run["ok"] == 8 and job_run["failed"] == 0
    assert "schema_valid_rate" in suite.stdout
    assert list((demo / "eval" / "results").rglob("*.json"))  # results in the project
    prompts = _run([enrich, "prompts", "list"], cwd=demo).stdout
    assert any("item_metadata" in line and "project" in line for line in prompts.splitlines())
    assert any("bad_match" in line and "built-in" in line for line in prompts.splitlines())
    suites = _run([enrich, "eval", "list"], cwd=demo).stdout
    assert "cranfield_retrieval" in suites and "built-in" in suites
    assert "bad_match_homedepot" not in suites  # its golden set is not shipped
    _dashboard_serves(installed, demo)
    _runs_page_renders(installed, demo)
    after = sorted(p for p in site.rglob("*") if "__pycache__" not in p.parts)
    assert after == before


def _dashboard_serves(installed: Path, demo: Path) -> None:
    port = _free_port()
    dashboard = subprocess.Popen([str(installed / "enrich"), "dashboard", "--port", str(port)],
                                 cwd=demo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        assert _get(f"http://127.0.0.1:{port}/_stcore/health").strip() == "ok"
        assert "<title>" in _get(f"http://127.0.0.1:{port}/")
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=30)


def _runs_page_renders(installed: Path, demo: Path) -> None:
    code = ("import json\nfrom enrich.dashboard import page_path\n"
            "from streamlit.testing.v1 import AppTest\n"
            "app = AppTest.from_file(str(page_path('runs')), default_timeout=90).run()\n"
            "print(json.dumps({'file': str(page_path('runs')), 'errors': "
            "[str(e.value) for e in [*app.exception, *app.error]], "
            "'jobs': sorted(set(app.dataframe[0].value['job_name']))}))")
    done = _run([str(installed / "python"), "-c", code], cwd=demo,
                ENRICH_DB=str(demo / "enrich.duckdb"))
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(installed.parent)), report
    assert report["errors"] == [] and report["jobs"] == ["starter-item-metadata"], report


# --- fast checks: no machine paths, links inside the repository, data locations ------------

TEXT_FILES = ("*.py", "*.md", "*.yaml", "*.json", "*.toml", "Makefile")
# the working folder of the machine this was written on, and the shared folder beside it
# (spelt in pieces so that this file does not match itself)
OUTSIDE = ("/" + "work" + "/", ".." + "/shared")
# an absolute path starts a word ("eval/cranfield/work/data" is a folder of the repository)
_ABSOLUTE = re.compile(r"(?:^|[\s\"'(=:`\[])" + re.escape(OUTSIDE[0]))


def _names_outside(line: str) -> bool:
    return bool(_ABSOLUTE.search(line)) or OUTSIDE[1] in line


def _repository_files(patterns: tuple[str, ...]) -> list[Path]:
    """The repository's files matching ``patterns``: the tracked ones in a git checkout
    (scratch output such as bench/out*/ or eval/*/work/ is not part of it), else a walk."""
    import fnmatch
    import subprocess

    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return [REPO / name for name in listed.stdout.splitlines()
                if any(fnmatch.fnmatch(Path(name).name, pattern) for pattern in patterns)
                and (REPO / name).is_file()]
    found = []
    for pattern in patterns:
        for path in REPO.rglob(pattern):
            parts = path.relative_to(REPO).parts
            if parts[0] not in (".venv", ".git") and "envs" not in parts and \
                    "workdir" not in parts and "build" not in parts[:1]:
                found.append(path)
    return found


def test_no_file_names_a_path_of_one_machine() -> None:
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in _repository_files(TEXT_FILES)
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if _names_outside(line)]
    assert offenders == []


def test_documentation_links_stay_inside_the_repository() -> None:
    import re

    broken = []
    for page in _repository_files(("*.md",)):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            resolved = (page.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(REPO) or not resolved.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert broken == []


def test_build_step_ships_the_library_but_not_kaggle_data() -> None:
    sys.path.insert(0, str(REPO))
    try:
        from build_hooks import library_files
    finally:
        sys.path.remove(str(REPO))
    shipped = {relative for _, relative in library_files(REPO)}
    for folder, pattern in (("prompts", "*.yaml"), ("schemas", "*.py"), ("jobs", "*.yaml")):
        expected = {f"{folder}/{p.name}" for p in (REPO / folder).glob(pattern)
                    if not p.name.startswith("_")}
        assert expected and expected <= shipped
    assert "eval/suites/cranfield_retrieval.yaml" in shipped
    assert not any("homedepot" in name for name in shipped if name.startswith("eval/"))


def _script(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "ENRICH_DATA"} | env
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=full)


CRANFIELD = ("from cranfield_data import Cranfield\nimport sys\nfrom pathlib import Path\n"
             "c = Cranfield.load(Path(sys.argv[1]) if len(sys.argv) > 1 else None)\n"
             "print(len(c.docs), len(c.queries), sum(map(len, c.qrels.values())))")


def test_cranfield_comes_from_the_shipped_copy_or_enrich_data(tmp_path: Path) -> None:
    folder = REPO / "eval" / "cranfield"
    shipped = _script(CRANFIELD, folder)
    assert shipped.stdout.split() == ["1398", "150", "1078"], shipped.stderr
    data = tmp_path / "cranfield"
    data.mkdir()
    (data / "corpus.jsonl").write_text('{"_id": "1", "title": "t", "text": "wing flow"}\n',
                                       encoding="utf-8")
    (data / "queries.jsonl").write_text('{"_id": "1", "text": "flow"}\n', encoding="utf-8")
    (data / "qrels.tsv").write_text("query-id\tcorpus-id\tcranqrel_code\n1\t1\t2\n",
                                    encoding="utf-8")
    configured = _script(CRANFIELD, folder, ENRICH_DATA=str(tmp_path))
    assert configured.stdout.split() == ["1", "1", "1"], configured.stderr
    elsewhere = _script(CRANFIELD, folder, ENRICH_DATA=str(tmp_path / "no-such-folder"))
    assert elsewhere.stdout.split() == ["1398", "150", "1078"]  # no cranfield/ there: shipped
    wrong = subprocess.run([sys.executable, "-c", CRANFIELD, str(tmp_path)], cwd=folder,
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert "no Cranfield corpus.jsonl or corpus.jsonl.gz in" in wrong.stderr


def test_home_depot_is_user_supplied_with_a_one_line_error(tmp_path: Path) -> None:
    code = "from hd_data import homedepot_file\nprint(homedepot_file())"
    folder = REPO / "eval" / "homedepot"
    unset = _script(code, folder)
    assert unset.returncode == 2 and unset.stderr.count("\n") == 1, unset.stderr
    assert "$ENRICH_DATA/home-depot-search-relevance/dev.csv.gz" in unset.stderr
    absent = _script(code, folder, ENRICH_DATA=str(tmp_path))
    assert absent.returncode == 2
    assert str(tmp_path / "home-depot-search-relevance" / "dev.csv.gz") in absent.stderr
    target = tmp_path / "home-depot-search-relevance" / "dev.csv.gz"
    target.parent.mkdir()
    target.write_bytes(b"")
    present = _script(code, folder, ENRICH_DATA=str(tmp_path))
    assert present.returncode == 0 and present.stdout.strip() == str(target)
