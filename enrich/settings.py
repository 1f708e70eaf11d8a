"""Process-wide settings from ``ENRICH_*`` environment variables (no hidden globals).

Settings are read once per command and passed down explicitly. Paths may start with ``~``
(expanded), and a bad value is an error naming the variable.
"""

import os
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from enrich.gc_pacing import DEFAULT_GC_YOUNG

ENV_PREFIX = "ENRICH_"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "enrich"


class StoreLocation(NamedTuple):
    """Where the store is, and who said so (named in error messages).

    Attributes:
        path: the store file, ``~`` expanded.
        origin: ``--db`` (the option), ``ENRICH_DB`` (the variable) or ``default``.
        memory_mb: DuckDB's memory cap for a writer (``ENRICH_STORE_MEMORY_MB``; None: the
            default of :mod:`enrich.store.memory`).
    """

    path: Path
    origin: str
    memory_mb: int | None = None


def _from_environment(fields: dict[str, Any]) -> dict[str, str]:
    """``ENRICH_<FIELD>`` variables (any case) for the fields of :class:`EnrichSettings`."""
    found: dict[str, str] = {}
    for key, value in os.environ.items():
        upper = key.upper()
        if upper.startswith(ENV_PREFIX):
            name = upper[len(ENV_PREFIX):].lower()
            if name in fields:
                found[name] = value
    return found


class EnrichSettings(BaseModel):
    """Defaults that a job file or a CLI option can override; values not passed come from
    ``ENRICH_<NAME>`` environment variables.

    (A plain pydantic model reading the environment itself: pydantic-settings cost about
    0.1 s of import on every command, see bench/PROFILE.md.)

    Example:
        ``ENRICH_DB=/data/enrich.duckdb enrich run jobs/movielens_item_metadata.yaml``
    """

    model_config = ConfigDict(extra="ignore")

    db: Path = Field(default=Path("enrich.duckdb"), description="DuckDB file for results")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="models, wheels")
    n_threads: int = Field(default=2, ge=1, description="llama.cpp CPU threads")
    data: Path | None = Field(default=None, description="folder of public datasets for the "
                              "evaluation and benchmark scripts (layout: data/README.md)")
    store_memory_mb: int | None = Field(
        default=None, ge=32, description="DuckDB memory cap of a writing store in MiB (raise "
        "it for rows with fields of tens of MB)")
    gc_young: int = Field(default=DEFAULT_GC_YOUNG, ge=0, description="young-generation GC "
                          "threshold during a run (0: the interpreter's; enrich/gc_pacing.py)")
    debug: bool = False

    def __init__(self, **values: Any) -> None:
        environment = _from_environment(type(self).model_fields)
        try:
            super().__init__(**{**environment, **values})
        except ValidationError as exc:
            from enrich.errors import ConfigError

            first = exc.errors()[0]
            name = "ENRICH_" + str(first["loc"][0] if first["loc"] else "").upper()
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"environment variable {name}: {message}",
                              f"fix or unset {name}") from None

    @field_validator("db", "cache_dir", mode="before")
    @classmethod
    def _expanded_path(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            if not str(value).strip():
                raise ValueError("is empty; it should be a file path")
            return Path(value).expanduser()
        return value

    def store_location(self, db: Path | None = None) -> StoreLocation:
        """The store to use: ``--db`` when given, else ``ENRICH_DB``, else the default.

        Args:
            db: the ``--db`` option (None when not given).

        Returns:
            The path (``~`` expanded) and where it came from.
        """
        if db is not None:
            return StoreLocation(Path(db).expanduser(), "--db", self.store_memory_mb)
        origin = "ENRICH_DB" if "db" in self.model_fields_set else "default"
        return StoreLocation(self.db, origin, self.store_memory_mb)
