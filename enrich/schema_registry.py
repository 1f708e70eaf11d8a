"""Output schemas: pydantic models in ``schemas/*.py`` or JSON Schema files ``schemas/*.json``.

Every output is validated against its schema after generation (servers truncate at
``max_tokens`` and small models emit control characters, so constrained decoding is never
trusted alone). Schemas should be bounded (``max_length``, ``max_length`` on lists) so a model
cannot generate forever.

Example:
    >>> registry = SchemaRegistry(Path("schemas"))                   # doctest: +SKIP
    >>> schema = registry.get("ItemMetadata")                         # doctest: +SKIP
    >>> schema.validate_json('{"clean_title": "Heat", ...}')          # doctest: +SKIP
"""

import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from enrich.errors import ConfigError


class OutputInvalid(Exception):
    """Generated text is not valid JSON, or valid JSON that breaks the schema."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "invalid_json" | "schema_violation"
        self.message = message


class OutputSchema:
    """A named output contract: its JSON Schema and a validator for generated text.

    Args:
        name: the schema's name as prompts and jobs refer to it.
        json_schema: the JSON Schema sent to servers for constrained decoding.
        validate: turns generated text into a JSON-ready dict or raises :class:`OutputInvalid`.
        model: the pydantic model, when the schema comes from one.
    """

    def __init__(self, name: str, json_schema: dict[str, Any],
                 validate: Callable[[str], dict[str, Any]], model: type[BaseModel] | None = None):
        self.name = name
        self.json_schema = json_schema
        self.model = model
        self._validate = validate
        blob = orjson.dumps(json_schema, option=orjson.OPT_SORT_KEYS)
        self.fingerprint = hashlib.sha256(blob).hexdigest()[:16]

    def validate_json(self, text: str) -> dict[str, Any]:
        """Parse and validate generated text."""
        return self._validate(text)

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> "OutputSchema":
        """Wrap a pydantic model (validation runs in pydantic-core, from the raw text)."""

        def validate(text: str) -> dict[str, Any]:
            try:
                return model.model_validate_json(text).model_dump(mode="json")
            except PydanticValidationError as exc:
                first = exc.errors()[0]
                if first["type"] in ("json_invalid", "json_type"):
                    raise OutputInvalid("invalid_json", f"not valid JSON: {first['msg']}") from exc
                where = ".".join(str(p) for p in first["loc"]) or "(root)"
                raise OutputInvalid("schema_violation",
                                    f"`{where}`: {first['msg']}") from exc

        return cls(model.__name__, model.model_json_schema(), validate, model)

    @classmethod
    def from_json_schema(cls, name: str, schema: dict[str, Any], path: Path) -> "OutputSchema":
        """Wrap a JSON Schema document, checking that it is itself valid JSON Schema."""
        import jsonschema

        try:
            validator_cls = jsonschema.validators.validator_for(schema)
            validator_cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(f"{path}: not a valid JSON Schema: {exc.message}",
                              "fix the schema (see https://json-schema.org)") from exc
        validator = validator_cls(schema)

        def validate(text: str) -> dict[str, Any]:
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise OutputInvalid("invalid_json", f"not valid JSON: {exc}") from exc
            error = jsonschema.exceptions.best_match(validator.iter_errors(data))
            if error is not None:
                where = ".".join(str(p) for p in error.absolute_path) or "(root)"
                raise OutputInvalid("schema_violation", f"`{where}`: {error.message}")
            return data

        return cls(name, schema, validate)


class SchemaRegistry:
    """The output schemas of a project (a ``schemas/`` folder), then the built-in ones.

    Python files contribute the pydantic models they define (those in ``__all__`` when set);
    ``NAME.json`` files contribute a schema called ``NAME``. A name the project does not
    define is looked up in the built-in library that ships with enrich
    (:mod:`enrich._builtin`), which is only read when needed.

    Args:
        folder: the project's ``schemas/`` folder.
        builtin: also look in the built-in library (a project schema of the same name wins).
    """

    def __init__(self, folder: Path, builtin: bool = True):
        from enrich._builtin import builtin_folder

        self.folder = Path(folder)
        self.builtin_folder = builtin_folder("schemas", self.folder) if builtin else None
        self._schemas: dict[str, OutputSchema] | None = None
        self._builtin: dict[str, OutputSchema] | None = None

    def _load(self) -> dict[str, OutputSchema]:
        if self._schemas is None:
            self._schemas = _load_folder(self.folder, "enrich_project_schemas")
        return self._schemas

    def _load_builtin(self) -> dict[str, OutputSchema]:
        if self._builtin is None:
            self._builtin = {} if self.builtin_folder is None else _load_folder(
                self.builtin_folder, "enrich_builtin_schemas")
        return self._builtin

    def names(self) -> list[str]:
        """Every schema name (the project's and the built-in ones)."""
        return sorted({*self._load(), *self._load_builtin()})

    def source(self, name: str) -> str:
        """Where the schema ``name`` comes from: ``project`` or ``built-in``."""
        from enrich._builtin import BUILTIN, PROJECT

        return PROJECT if name in self._load() else BUILTIN

    def get(self, name: str) -> OutputSchema:
        """The schema called ``name``, or a :class:`ConfigError` listing the known ones."""
        schema = self._load().get(name) or self._load_builtin().get(name)
        if schema is None:
            raise ConfigError(f"unknown output schema `{name}` (looked in {self.folder})",
                              f"available schemas: {', '.join(self.names()) or 'none'}")
        return schema


def _load_folder(folder: Path, module_prefix: str) -> dict[str, OutputSchema]:
    found: dict[str, OutputSchema] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                for model in _models_in(path, module_prefix):
                    found[model.__name__] = OutputSchema.from_model(model)
        for path in sorted(folder.glob("*.json")):
            found[path.stem] = _json_schema_file(path)
    return found


def _json_schema_file(path: Path) -> OutputSchema:
    try:
        schema = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}", "fix the schema file") from exc
    if not isinstance(schema, dict):
        raise ConfigError(f"{path}: a JSON Schema must be an object", "fix the schema file")
    return OutputSchema.from_json_schema(path.stem, schema, path)


def _models_in(path: Path, module_prefix: str) -> list[type[BaseModel]]:
    module_name = f"{module_prefix}.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import schema file {path}", "check the file name")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(f"{path}: {type(exc).__name__}: {exc}", "fix the schema file") from exc
    names = getattr(module, "__all__", None)
    members = [getattr(module, n) for n in names] if names else [
        obj for _, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module_name
    ]
    return [m for m in members if inspect.isclass(m) and issubclass(m, BaseModel)]
