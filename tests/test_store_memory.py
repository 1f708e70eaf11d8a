"""The writer's DuckDB memory cap is a constant (the results tables have no primary-key
indexes to hold in memory since migration 4, see enrich/store/memory.py), overridable with
``ENRICH_STORE_MEMORY_MB``, and a row far wider than the cap is still stored."""

import uuid
from pathlib import Path

import duckdb
import pytest

from enrich.errors import ConfigError
from enrich.settings import EnrichSettings
from enrich.store import Store
from enrich.store.memory import DEFAULT_MB, MIN_MB, cap_mb
from enrich.store.pending import PendingWrites, RequestRow


def _limit_mb(store: Store) -> float:
    text = store.sql("SELECT current_setting('memory_limit')").fetchone()[0]
    number, unit = text.split()
    return float(number) * {"MiB": 1, "GiB": 1024, "KiB": 1 / 1024}[unit]


def test_cap_is_the_default_within_bounds_and_ram() -> None:
    assert cap_mb(ram_mb=24_000) == DEFAULT_MB
    assert cap_mb(1, ram_mb=24_000) == MIN_MB
    assert cap_mb(100_000, ram_mb=1_000) == 800  # never above 80% of RAM


def test_the_cap_does_not_grow_with_the_store(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        assert abs(_limit_mb(store) - DEFAULT_MB) < 1
        keys = [uuid.uuid4().hex for _ in range(300_000)]
        store.con.execute("INSERT INTO failures SELECT 'r', unnest($k), NULL, 'x', 'm', NULL, "
                          "0, NULL, now()::TIMESTAMP", {"k": keys})
    with Store(path) as store:
        assert abs(_limit_mb(store) - DEFAULT_MB) < 1
        assert not store.sql("SELECT * FROM duckdb_indexes() WHERE table_name IN "
                             "('requests', 'outputs', 'failures')").fetchall()
    with Store(path, memory_mb=96) as store:
        assert abs(_limit_mb(store) - 96) < 1


def test_the_cap_is_configurable_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICH_STORE_MEMORY_MB", "256")
    assert EnrichSettings().store_location().memory_mb == 256
    monkeypatch.setenv("ENRICH_STORE_MEMORY_MB", "8")
    with pytest.raises(ConfigError, match="ENRICH_STORE_MEMORY_MB"):
        EnrichSettings()


@pytest.mark.parametrize("megabytes", [10, 40])
def test_a_row_wider_than_the_cap_is_stored(tmp_path: Path, megabytes: int) -> None:
    wide = "x" * (megabytes * 2**20)
    with Store(tmp_path / "s.duckdb") as store:
        pending = PendingWrites("run")
        pending.add_request(RequestRow(
            key="0" * 32, run_id="run", row_id="1", prompt_name="p", prompt_version="v",
            model="m", backend="b", params="{}", messages="[]", response=None, content=wide,
            output='{"a": 1}', logprobs=None, prompt_tokens=None, completion_tokens=None,
            latency_ms=1.0, sends=1, finish_reason=None, created_at=0))
        pending.add_output("1", "0" * 32, False, '{"text": "' + wide + '"}', 0)
        try:
            store.write(pending)
        except duckdb.Error as exc:  # pragma: no cover - the failure this test is for
            pytest.fail(f"a {megabytes} MB row did not fit: {exc}")
        assert store.sql("SELECT length(content) FROM requests").fetchone()[0] == len(wide)
