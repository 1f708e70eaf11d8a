"""EnrichSettings: ENRICH_* variables, explicit values first, errors naming the variable."""

import subprocess
import sys
from pathlib import Path

import pytest

from enrich.errors import ConfigError
from enrich.settings import EnrichSettings


def test_environment_variables_fill_unset_fields(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("ENRICH_DB", str(tmp_path / "x.duckdb"))
    monkeypatch.setenv("enrich_n_threads", "3")  # any case, as pydantic-settings read it
    monkeypatch.setenv("ENRICH_UNKNOWN_THING", "ignored")
    settings = EnrichSettings()
    assert settings.db == tmp_path / "x.duckdb"
    assert settings.n_threads == 3
    assert settings.store_location() == (tmp_path / "x.duckdb", "ENRICH_DB", None)
    assert settings.store_location(Path("~/y.duckdb")).origin == "--db"


def test_explicit_values_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICH_N_THREADS", "3")
    assert EnrichSettings(n_threads=1).n_threads == 1


def test_defaults_without_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENRICH_DB", "ENRICH_CACHE_DIR", "ENRICH_N_THREADS", "ENRICH_DATA"):
        monkeypatch.delenv(name, raising=False)
    settings = EnrichSettings()
    assert settings.store_location() == (Path("enrich.duckdb"), "default", None)
    assert settings.cache_dir == Path.home() / ".cache" / "enrich"


@pytest.mark.parametrize(("name", "value", "said"), [
    ("ENRICH_N_THREADS", "zero", "ENRICH_N_THREADS"),
    ("ENRICH_N_THREADS", "0", "ENRICH_N_THREADS"),
    ("ENRICH_DB", "  ", "ENRICH_DB"),
])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                        said: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        EnrichSettings()
    assert said in str(caught.value)
    assert f"unset {said}" in caught.value.hint


def test_reading_settings_does_not_import_pydantic_settings() -> None:
    code = ("import sys, enrich.settings; enrich.settings.EnrichSettings(); "
            "print('pydantic_settings' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
