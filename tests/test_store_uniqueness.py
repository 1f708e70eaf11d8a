"""The results tables have no primary keys (migration 4, see enrich/store/migrations.py): the
writer keeps them unique. A cache key is stored once, a row's failure is replaced by its next
failure or its output, and a store written before migration 4 keeps every row."""

import hashlib
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_helpers import apply_old_migrations

from enrich.store import Store
from enrich.store.migrations import MIGRATIONS
from enrich.store.pending import FailureRow, PendingWrites, RequestRow


def _request(key: str, row_id: str, run_id: str = "run") -> RequestRow:
    return RequestRow(key=key, run_id=run_id, row_id=row_id, prompt_name="p",
                      prompt_version="v", model="m", backend="b", params="{}", messages="[]",
                      response=None, content=None, output=f'{{"row": "{row_id}"}}',
                      logprobs=None, prompt_tokens=1, completion_tokens=1, latency_ms=1.0,
                      sends=1, finish_reason="stop", created_at=0)


def _failure(row_id: str, kind: str, run_id: str = "run") -> FailureRow:
    return FailureRow(run_id=run_id, row_id=row_id, key=None, error_kind=kind, message=kind,
                      content=None, sends=1, input=None, created_at=0)


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def test_a_key_is_stored_once_across_batches_and_within_one(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        first = PendingWrites("run")
        first.add_request(_request(_key("a"), "1"))
        first.add_output("1", _key("a"), False, None, 0)
        store.write(first)
        second = PendingWrites("run")
        for row_id in ("2", "3"):  # a key already stored, and twice in the batch
            second.add_request(_request(_key("a"), row_id))
            second.add_output(row_id, _key("a"), False, None, 0)
        second.add_request(_request(_key("b"), "4"))
        second.add_request(_request(_key("b"), "5"))
        second.add_output("4", _key("b"), False, None, 0)
        store.write(second)
        keys = store.sql("SELECT key, row_id FROM requests ORDER BY row_id").fetchall()
        assert keys == [(_key("a"), "1"), (_key("b"), "4")]  # the first answer is kept
        assert store.sql("SELECT count(*) FROM outputs").fetchone()[0] == 4


def test_keys_sharing_the_hash_prefix_stay_apart(tmp_path: Path) -> None:
    # key_hash is the first 15 hex digits: keys that share them are still told apart
    one, two = "0123456789abcde" + "0" * 17, "0123456789abcde" + "f" * 17
    with Store(tmp_path / "s.duckdb") as store:
        pending = PendingWrites("run")
        pending.add_request(_request(one, "1"))
        pending.add_output("1", one, False, None, 0)
        store.write(pending)
        assert store.known_keys([one, two]) == {one: None}
        pending = PendingWrites("run")
        pending.add_request(_request(two, "2"))
        pending.add_output("2", two, False, None, 0)
        store.write(pending)
        assert store.known_keys([one, two, _key("x")]) == {one: None, two: None}
        assert store.sql("SELECT count(DISTINCT key_hash), count(*) FROM requests"
                         ).fetchone() == (1, 2)


def test_a_failure_is_replaced_by_the_next_failure_or_by_the_output(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        for kind in ("timeout", "invalid_json"):
            pending = PendingWrites("run")
            pending.add_failure(_failure("1", kind))
            pending.add_failure(_failure("2", kind))
            store.write(pending)
        assert store.sql("SELECT row_id, error_kind FROM failures ORDER BY row_id"
                         ).fetchall() == [("1", "invalid_json"), ("2", "invalid_json")]
        other = PendingWrites("other-run")  # another run's failure of the same row id stays
        other.add_failure(_failure("1", "timeout", "other-run"))
        store.write(other)
        pending = PendingWrites("run")
        pending.add_request(_request(_key("a"), "1"))
        pending.add_output("1", _key("a"), False, None, 0)
        store.write(pending)
        assert store.sql("SELECT run_id, row_id FROM failures ORDER BY ALL").fetchall() == [
            ("other-run", "1"), ("run", "2")]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=60), st.integers(1, 7))
def test_any_order_of_batches_stores_each_key_once(tmp_path_factory, picks: list[int],
                                                   batch: int) -> None:
    path = tmp_path_factory.mktemp("u") / "s.duckdb"
    with Store(path) as store:
        for start in range(0, len(picks), batch):
            pending = PendingWrites("run")
            for n in picks[start:start + batch]:
                pending.add_request(_request(_key(str(n)), str(n)))
                pending.add_output(str(n), _key(str(n)), False, None, 0)
            store.write(pending)
        stored = store.sql("SELECT key FROM requests").fetchall()
        assert sorted(k for (k,) in stored) == sorted({_key(str(n)) for n in picks})


def test_a_store_from_before_migration_4_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    with duckdb.connect(str(path)) as con:
        apply_old_migrations(con, 3)
        keys = [_key(str(n)) for n in range(50)]
        con.execute("INSERT INTO requests (key, run_id, row_id, prompt_name, prompt_version, "
                    "model, backend, output, created_at) SELECT unnest($k), 'old', "
                    "unnest($k), 'p', 'v', 'm', 'b', '{}', now()", {"k": keys})
        con.execute("INSERT INTO outputs SELECT 'old', unnest($k), unnest($k), false, NULL, "
                    "now()", {"k": keys})
        con.execute("INSERT INTO failures VALUES ('old', 'x', NULL, 'timeout', 'm', NULL, 1, "
                    "NULL, now())")
    with Store(path) as store:
        assert store.schema_version() == MIGRATIONS[-1][0] >= 4
        assert store.sql("SELECT count(*) FROM outputs").fetchone()[0] == 50
        assert store.sql("SELECT count(*) FROM failures").fetchone()[0] == 1
        hashes = dict(store.sql("SELECT key, key_hash FROM requests").fetchall())
        assert hashes == {k: int(k[:15], 16) for k in keys}
        assert set(store.known_keys(keys[:10] + [_key("new")])) == set(keys[:10])
        assert not store.sql("SELECT * FROM duckdb_constraints() WHERE table_name IN "
                             "('requests', 'outputs', 'failures') AND constraint_type = "
                             "'PRIMARY KEY'").fetchall()


def test_the_integrity_check_finds_a_duplicate_written_around_the_writer(tmp_path: Path
                                                                        ) -> None:
    from enrich.store.queries import consistency_problems

    with Store(tmp_path / "s.duckdb") as store:
        store.create_run({"run_id": "run", "job_name": "j", "fingerprint": "f",
                          "prompt_name": "p", "prompt_version": "v", "schema_name": "S",
                          "backend": "b", "model": "m", "rows_total": 1})
        pending = PendingWrites("run")
        pending.add_request(_request(_key("a"), "1"))
        pending.add_output("1", _key("a"), False, None, 0)
        store.write(pending)
        assert consistency_problems(store) == {}
        store.sql("INSERT INTO outputs SELECT * FROM outputs")
        store.sql("INSERT INTO requests SELECT * REPLACE (0 AS key_hash) FROM requests")
        problems = consistency_problems(store)
    assert problems["request keys stored twice"] == 1
    assert problems["rows with two outputs"] == 1
    assert problems["request hashes that do not match their key"] == 1
