"""Process-wide settings from ``ENRICH_*`` environment variables (no hidden globals).

Settings are read once per command and passed down explicitly.
"""

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "enrich"


class EnrichSettings(BaseSettings):
    """Defaults that a job file or a CLI option can override.

    Example:
        ``ENRICH_DB=/data/enrich.duckdb enrich run jobs/movielens_item_metadata.yaml``
    """

    model_config = SettingsConfigDict(env_prefix="ENRICH_", extra="ignore")

    db: Path = Field(default=Path("enrich.duckdb"), description="DuckDB file for results")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="models, wheels")
    n_threads: int = Field(default=2, ge=1, description="llama.cpp CPU threads")
    debug: bool = False

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            from enrich.errors import ConfigError

            first = exc.errors()[0]
            name = "ENRICH_" + str(first["loc"][0] if first["loc"] else "").upper()
            raise ConfigError(f"environment variable {name}: {first['msg']}",
                              f"fix or unset {name}") from None
