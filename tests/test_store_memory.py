"""The writer's DuckDB memory cap is sized from the store's primary-key entries, before writing
(DuckDB cannot recover from running out at COMMIT, see enrich/store/memory.py)."""

import uuid
from pathlib import Path

from enrich.store import Store
from enrich.store.memory import MIN_MB, cap_mb


def _limit_mb(store: Store) -> float:
    text = store.sql("SELECT current_setting('memory_limit')").fetchone()[0]
    number, unit = text.split()
    return float(number) * {"MiB": 1, "GiB": 1024, "KiB": 1 / 1024}[unit]


def test_cap_grows_with_the_entries_and_stays_within_ram() -> None:
    assert cap_mb(0, ram_mb=24_000) == MIN_MB
    assert MIN_MB < cap_mb(200_000, ram_mb=24_000) <= MIN_MB + 40  # a 100,000-row run
    big = cap_mb(10_000_000, ram_mb=24_000)
    assert big > 1_000
    assert cap_mb(10_000_000, ram_mb=1_000) == 800  # never above 80% of RAM


def test_store_reserves_memory_for_the_run_and_for_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        assert abs(_limit_mb(store) - MIN_MB) < 1
        assert store.reserve_memory(2_000_000) > 600
        assert abs(_limit_mb(store) - store.memory_mb) < 1
        keys = [uuid.uuid4().hex for _ in range(300_000)]
        store.con.execute("INSERT INTO failures SELECT 'r', unnest($k), NULL, 'x', 'm', NULL, "
                          "0, NULL, now()::TIMESTAMP", {"k": keys})
    with Store(path) as store:  # reopened: sized for the 300,000 entries it holds
        assert _limit_mb(store) == cap_mb(300_000) > MIN_MB
