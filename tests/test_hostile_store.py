"""A store from elsewhere is refused before anything is written to it (issue 17, part 6).

Property: for a non-DuckDB file, a DuckDB file cut short at any point, one with damaged header
bytes, another program's DuckDB database (even with tables of our names but other columns) and
a store written by a newer enrich, ``enrich run`` and ``enrich status`` print one line, exit 2,
and leave the file byte for byte as it was (sha256 before and after, and no WAL file appears).
``export --out`` never overwrites the store, the job file or the job's source, through a
symlink or a hard link either.
"""

import hashlib
import os
from pathlib import Path

import duckdb
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import apply_old_migrations, job_yaml, make_project, run_cli, write_job

from enrich.errors import StoreError
from enrich.store import Store
from enrich.store.migrations import MIGRATIONS, table_columns
from enrich.store.opening import open_error


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def store_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real store with some rows in it (several DuckDB blocks)."""
    path = tmp_path_factory.mktemp("store") / "e.duckdb"
    with Store(path) as store:
        store.sql("INSERT INTO prompt_versions SELECT 'p' || range, 'v', 'S', '{}', now() "
                  "FROM range(20000)")
    return path.read_bytes()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("hostile") / "project")
    write_job(root, job_yaml("http://127.0.0.1:9/v1"))
    return root


def _refused(project: Path, db: Path, message: str) -> None:
    """``enrich run`` and ``enrich status`` refuse ``db`` in one line and leave it untouched."""
    before = _sha(db)
    for args in (["run", "jobs/job.yaml", "--db", str(db), "-q"], ["status", "--db", str(db)]):
        result = run_cli(args, project)
        assert result.code == 2, (args, result.stdout, result.stderr)
        assert len(result.error_lines) == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert _sha(db) == before, "the file was changed"
        assert not Path(f"{db}.wal").exists()


def test_another_programs_database_is_refused(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE runs (id INTEGER, name VARCHAR)")
        con.execute("INSERT INTO runs VALUES (1, 'their data')")
    _refused(project, db, "is a DuckDB database but not an enrich store (it has tables runs "
                          "and no schema_migrations)")


def test_our_table_names_with_other_columns_are_refused(project: Path, tmp_path: Path,
                                                        store_bytes: bytes) -> None:
    db = tmp_path / "altered.duckdb"
    db.write_bytes(store_bytes)
    with duckdb.connect(str(db)) as con:
        con.execute("ALTER TABLE outputs DROP COLUMN input")
    _refused(project, db, "is not an enrich store (its table `outputs` has no column `input`)")
    with duckdb.connect(str(db)) as con:
        con.execute("DROP TABLE outputs")
    _refused(project, db, "is not an enrich store (it has no table `outputs`)")


def test_another_programs_schema_migrations_is_refused(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "migrate.duckdb"
    with duckdb.connect(str(db)) as con:  # golang-migrate's table has the same name
        con.execute("CREATE TABLE schema_migrations (version BIGINT, dirty BOOLEAN)")
        con.execute("INSERT INTO schema_migrations VALUES (3, false)")
    _refused(project, db, "its schema_migrations table is another program's")


def test_a_store_from_a_newer_enrich_is_refused(project: Path, tmp_path: Path,
                                                store_bytes: bytes) -> None:
    db = tmp_path / "newer.duckdb"
    db.write_bytes(store_bytes)
    newer = MIGRATIONS[-1][0] + 1
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', now())", [newer])
    _refused(project, db, f"was written by a newer enrich (store version {newer}; this enrich "
                          f"knows versions up to {MIGRATIONS[-1][0]})")


def test_not_duckdb_and_a_folder_are_refused(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "notes.duckdb"
    db.write_text("these are my notes, not a database\n", encoding="utf-8")
    _refused(project, db, "notes.duckdb is not a DuckDB file")
    folder = tmp_path / "folder.duckdb"
    folder.mkdir()
    result = run_cli(["run", "jobs/job.yaml", "--db", str(folder), "-q"], project)
    assert result.code == 2 and "is a folder" in result.stderr, result.stderr
    assert list(folder.iterdir()) == []


def _table_blocks_end(store_bytes: bytes, tmp_path: Path) -> int:
    """Bytes a store needs for every block its tables use."""
    full = tmp_path / "full.duckdb"
    full.write_bytes(store_bytes)
    with duckdb.connect(str(full), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        highest = max(con.execute(f"SELECT coalesce(max(block_id), -1) FROM "
                                  f"pragma_storage_info('{t}')").fetchone()[0] for t in tables)
    full.unlink()
    return 3 * 4096 + (highest + 1) * 262144


def _cut_is_refused_or_harmless(project: Path, db: Path, needed: int) -> None:
    """A cut that loses a block the tables use is refused by ``run`` and ``status``, untouched;
    any other cut (only free space gone) is refused untouched or reads as a store."""
    if db.stat().st_size < needed:
        message = "is not a DuckDB file" if db.stat().st_size < 12 else "is a damaged DuckDB"
        _refused(project, db, message)
        return
    before = _sha(db)
    result = run_cli(["status", "--db", str(db)], project)
    assert result.code in (0, 2) and "Traceback" not in result.stderr, result.stderr
    if result.code == 2:
        assert "is a damaged DuckDB file" in result.stderr and _sha(db) == before


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fraction=st.floats(0.0, 0.999))
def test_a_store_cut_short_anywhere_is_refused_untouched(project: Path, tmp_path: Path,
                                                         store_bytes: bytes,
                                                         fraction: float) -> None:
    db = tmp_path / "cut.duckdb"
    Path(f"{db}.wal").unlink(missing_ok=True)
    db.write_bytes(store_bytes[:max(1, int(len(store_bytes) * fraction))])
    _cut_is_refused_or_harmless(project, db, _table_blocks_end(store_bytes, tmp_path))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(offset=st.integers(0, 3 * 4096 - 8), junk=st.binary(min_size=1, max_size=8))
def test_damaged_header_bytes_are_refused_untouched(project: Path, tmp_path: Path,
                                                    store_bytes: bytes, offset: int,
                                                    junk: bytes) -> None:
    damaged = bytearray(store_bytes)
    damaged[offset:offset + len(junk)] = junk
    if bytes(damaged) == store_bytes:
        return
    db = tmp_path / "damaged.duckdb"
    Path(f"{db}.wal").unlink(missing_ok=True)
    db.write_bytes(bytes(damaged))
    before = _sha(db)
    result = run_cli(["status", "--db", str(db)], project)
    if result.code == 0:  # bytes DuckDB never reads (padding in the header blocks)
        assert _sha(db) == before
        return
    assert result.code == 2 and len(result.error_lines) == 1, result.stderr
    assert "not a DuckDB file" in result.stderr or "damaged DuckDB file" in result.stderr
    _refused(project, db, "")


def test_a_newer_duckdb_storage_version_is_named() -> None:
    error = duckdb.IOException("IO Error: Trying to read a database file with version number "
                               "70, but we can only read versions between 64 and 69.\nThe "
                               "database file was created with a newer version of DuckDB.")
    problem = open_error(Path("e.duckdb"), "ENRICH_DB", error)
    assert problem is not None
    assert problem.message.startswith("e.duckdb (from ENRICH_DB) was written by another "
                                      "version of DuckDB (Trying to read a database file")
    assert "set ENRICH_DB to" in problem.hint
    assert open_error(Path("e.duckdb"), "--db", duckdb.IOException("Could not set lock")) is None


def test_our_own_stores_still_open_and_older_ones_migrate(tmp_path: Path,
                                                          store_bytes: bytes) -> None:
    db = tmp_path / "ours.duckdb"
    db.write_bytes(store_bytes)
    with Store(db) as store:
        assert store.schema_version() == MIGRATIONS[-1][0]
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as con:
        apply_old_migrations(con, 2)
    with Store(old) as store:
        assert store.schema_version() == MIGRATIONS[-1][0]
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()  # a DuckDB file without tables becomes a store
    with Store(empty) as store:
        assert store.schema_version() == MIGRATIONS[-1][0]


@pytest.mark.parametrize("version", [number for number, _, _ in MIGRATIONS])
def test_table_columns_read_from_the_ddl_match_what_duckdb_creates(version: int) -> None:
    with duckdb.connect() as con:
        for number, _, ddl in MIGRATIONS:
            if number <= version:
                con.execute(ddl)
        rows = con.execute("SELECT c.table_name, c.column_name FROM duckdb_columns() c JOIN "
                           "duckdb_tables() t USING (database_name, schema_name, table_name)"
                           ).fetchall()
    real: dict[str, set[str]] = {}
    for table, column in rows:
        real.setdefault(table, set()).add(column)
    assert table_columns(version) == {t: frozenset(c) for t, c in real.items()}


# -- export never overwrites the store or the job's source -----------------------------------------

def _store_with_run(project: Path) -> Path:
    db = project / "e.duckdb"
    job = project / "jobs" / "job.yaml"
    config = {"name": "items", "source": {"path": "data/items.csv", "id_column": "item_id"},
              "prompt": "label_item"}
    with Store(db) as store:
        store.create_run({"run_id": "run-x", "job_name": "items", "job_path": str(job),
                          "fingerprint": "f", "prompt_name": "label_item",
                          "prompt_version": "v", "schema_name": "ItemLabel",
                          "backend": "openai", "model": "m", "source": "data/items.csv",
                          "config": orjson.dumps(config).decode()})
    return db


@pytest.mark.parametrize("target", ["store", "store-symlink", "source", "source-symlink",
                                    "source-hardlink", "job", "source-relative"])
def test_export_never_overwrites_the_store_or_the_source(tmp_path: Path, target: str) -> None:
    project = make_project(tmp_path / "project")
    write_job(project, job_yaml("http://127.0.0.1:9/v1"))
    db = _store_with_run(project)
    source = project / "data" / "items.csv"
    out = {"store": db, "source": source, "job": project / "jobs" / "job.yaml",
           "source-relative": Path("data/../data/items.csv")}.get(target)
    if out is None:
        out = tmp_path / f"{target}.csv"
        original = db if target.startswith("store") else source
        (os.link if target.endswith("hardlink") else os.symlink)(original, out)
    protected = {p: _sha(p) for p in (db, source, project / "jobs" / "job.yaml")}
    result = run_cli(["export", "run-x", "--out", str(out), "--format", "csv", "--db",
                      str(db)], project)
    assert result.code == 2 and len(result.error_lines) == 1, result.stderr
    assert "exporting would overwrite it — choose another --out path" in result.stderr
    assert {p: _sha(p) for p in protected} == protected


def test_export_to_a_new_file_still_works(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    db = _store_with_run(project)
    result = run_cli(["export", "run-x", "--out", "out.csv", "--format", "csv", "--db",
                      str(db)], project)
    assert result.code == 0, result.stderr
    assert (project / "out.csv").exists()


def test_a_refused_store_raises_store_error_in_the_library_too(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    db.write_bytes(b"PAR1" + b"\0" * 100)
    with pytest.raises(StoreError, match="is not a DuckDB file"):
        Store(db)
    assert db.read_bytes() == b"PAR1" + b"\0" * 100


def test_a_store_cut_on_a_block_boundary_is_refused_untouched(project: Path, tmp_path: Path,
                                                              store_bytes: bytes) -> None:
    """Cut after a whole block, the catalog may still read: the blocks the tables use decide."""
    needed = _table_blocks_end(store_bytes, tmp_path)
    cuts = range(3 * 4096, len(store_bytes), 262144)
    assert any(cut < needed for cut in cuts)
    for cut in cuts:
        db = tmp_path / f"aligned-{cut}.duckdb"
        db.write_bytes(store_bytes[:cut])
        _cut_is_refused_or_harmless(project, db, needed)
