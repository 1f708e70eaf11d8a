"""The prompt library: ``prompts/*.yaml`` files, rendered in a Jinja2 sandbox, versioned by hash.

A prompt file names its output schema and default sampling parameters, and holds a ``system``
and a ``user`` template. Templates see every source column as a variable (``{{ title }}``), the
whole row as ``row`` and the job's task options as ``options``. Rendering uses Jinja2's
``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a template cannot reach Python
internals, change the row it renders, or read files (``include``/``import``/``extends`` are
refused when the prompt is loaded), and a missing column is an error naming the column and the
row. Rendering is bounded in time and size (``enrich/render_limits.py``): a row whose template
loops for ever or builds a huge string fails alone (``RenderLimit``).

The version of a prompt is a content hash (12 hex digits) of everything that changes what is
sent: templates, schema name and parameters. Editing a comment in the YAML does not change it.

Example:
    >>> library = PromptLibrary(Path("prompts"))                    # doctest: +SKIP
    >>> prompt = library.get("item_metadata")                        # doctest: +SKIP
    >>> prompt.render({"title": "Heat (1995)", "genres": "Action"})   # doctest: +SKIP
"""

import difflib
import hashlib
from collections.abc import Set as AbstractSet
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from enrich.errors import ConfigError
from enrich.jobs import SamplingParams
from enrich.render_limits import (
    MAX_CHARS,
    MAX_SECONDS,
    BoundedSandbox,
    LimitExceeded,
    render_bounded,
)
from enrich.yaml_files import load_yaml_file

Messages = list[dict[str, str]]


class RenderError(Exception):
    """A row could not be rendered (missing column, sandbox violation, template error)."""


class RenderLimit(RenderError):
    """A row's prompt went over a render limit (time or size): a row failure, never a job
    error (see ``enrich/render_limits.py``)."""


class PromptFile(BaseModel):
    """A prompt as written in ``prompts/NAME.yaml``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    task: str | None = Field(default=None, description="task kind this prompt is written for")
    schema_name: str = Field(alias="schema", description="output schema name in schemas/")
    params: SamplingParams = Field(default_factory=SamplingParams)
    system: str = ""
    user: str

    def content(self) -> dict[str, Any]:
        """The fields that define what is sent (the basis of the version hash)."""
        return {
            "name": self.name,
            "schema": self.schema_name,
            "params": self.params.model_dump(exclude_none=True),
            "system": self.system,
            "user": self.user,
        }

    @cached_property
    def version(self) -> str:
        """Content hash of the prompt (12 hex digits)."""
        blob = orjson.dumps(self.content(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(blob).hexdigest()[:12]

    @cached_property
    def _templates(self) -> tuple[Any, Any]:
        env = BoundedSandbox(undefined=StrictUndefined, autoescape=False,
                             keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True,
                             finalize=shown_value)
        templates = env.from_string(self.system), env.from_string(self.user)
        for template in templates:
            # a plain dict instead of Jinja's ChainMap of template and environment globals:
            # ``render`` copies the globals into every new context (12 → 4 µs per row)
            template.globals = dict(template.globals)
        return templates

    def compile(self, source: Path | None = None) -> None:
        """Parse both templates now, raising :class:`ConfigError` on a syntax error."""
        where = f"{source or self.name}"
        try:
            _ = self._templates
        except TemplateSyntaxError as exc:
            raise ConfigError(
                f"{where}: template syntax error at line {exc.lineno}: {exc.message}",
                "fix the Jinja2 template in the prompt file",
            ) from exc
        for template in (self.system, self.user):
            tag = _file_reading_tag(template)
            if tag is not None:
                raise ConfigError(
                    f"{where}: `{{% {tag} %}}`: prompt templates cannot include, import or "
                    "extend other templates (they cannot read files)",
                    "put the text in the prompt file itself")

    def render(self, variables: dict[str, Any], *, max_seconds: float = MAX_SECONDS,
               max_chars: int = MAX_CHARS) -> Messages:
        """The chat messages for one row.

        Args:
            variables: what the templates see.
            max_seconds: time budget of each template.
            max_chars: size budget of each template's output and of values built on the way.

        Raises:
            RenderError: a variable is missing or the template broke the sandbox rules.
            RenderLimit: a template went over ``max_seconds`` or ``max_chars``.
        """
        system_t, user_t = self._templates
        try:
            messages: Messages = []
            if self.system:
                messages.append({"role": "system", "content": render_bounded(
                    system_t, variables, max_seconds=max_seconds,
                    max_chars=max_chars).strip()})
            messages.append({"role": "user", "content": render_bounded(
                user_t, variables, max_seconds=max_seconds, max_chars=max_chars).strip()})
            return messages
        except LimitExceeded as exc:
            raise RenderLimit(f"prompt `{self.name}`: {exc}") from exc
        except UndefinedError as exc:
            why = "; the source has no such column (or the row lacks it)" \
                if str(exc.message).endswith("is undefined") else ""
            raise RenderError(f"prompt `{self.name}`: {exc.message}{why}") from exc
        except SecurityError as exc:
            raise RenderError(f"prompt `{self.name}`: blocked by the template sandbox: {exc}"
                              ) from exc
        except Exception as exc:  # noqa: BLE001 - any template runtime error is a row failure
            raise RenderError(f"prompt `{self.name}`: {type(exc).__name__}: {exc}") from exc

    def to_yaml(self) -> str:
        """The prompt as YAML text (for ``prompts show`` and diffs)."""
        data = self.model_dump(by_alias=True, exclude_none=True)
        data["params"] = self.params.model_dump(exclude_none=True)
        return yaml.dump(data, Dumper=_BlockStyleDumper, sort_keys=False, allow_unicode=True,
                         width=100)


class _BlockStyleDumper(yaml.SafeDumper):
    """Writes multi-line strings as ``|`` blocks, so prompt diffs read like the files."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)


def _file_reading_tag(source: str) -> str | None:
    """The first ``include``/``import``/``extends`` tag in a template (they read files)."""
    from jinja2 import nodes

    tree = SandboxedEnvironment().parse(source)
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        return type(node).__name__.lower().replace("fromimport", "from ... import")
    return None


def template_variables(row: dict[str, Any], options: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
    """What a template sees for a row: its columns, ``row`` itself and ``options``."""
    return {**row, "row": row, "options": options or {}}


def shown_value(value: Any) -> Any:
    """How ``{{ value }}`` prints: None as the empty string, a dict or list (a nested source
    column: struct, map, list) as JSON text, anything else as itself (Jinja makes it text).

    Example:
        >>> shown_value(None), shown_value({"a": [1, 2]}), shown_value("1e5")
        ('', '{"a":[1,2]}', '1e5')
    """
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return value


def shadowed_columns(row: dict[str, Any], variables: dict[str, Any],
                     task_columns: AbstractSet[str] = frozenset()) -> list[str]:
    """Source columns whose name the template context gives another value (``row``,
    ``options``, or a variable a task adds), so ``{{ name }}`` would not show the column.

    Args:
        row: one source row.
        variables: what the template sees for that row.
        task_columns: columns the task was told to read (``task_options``): a variable of the
            same name derived from that column (``history``, ``query``) is what was asked for.

    Returns:
        The shadowed column names, in row order.
    """
    shadowed = []
    for name, value in row.items():
        if name not in variables or variables[name] is value:
            continue
        if name in ("row", "options") or name not in task_columns:
            shown = variables[name]
            if not (isinstance(shown, str) and shown == ("" if value is None else str(value))):
                shadowed.append(name)
    return shadowed


class PromptLibrary:
    """The prompt files of a project, then the built-in library for names it does not define.

    Args:
        folder: the project's ``prompts/`` folder.
        builtin: also look in the built-in library that ships with enrich
            (:mod:`enrich._builtin`); a project prompt of the same name wins.
    """

    def __init__(self, folder: Path, builtin: bool = True):
        from enrich._builtin import builtin_folder

        self.folder = Path(folder)
        self.builtin_folder = builtin_folder("prompts", self.folder) if builtin else None

    def paths(self) -> list[Path]:
        """Every prompt file of the project, sorted by name."""
        return _prompt_files(self.folder)

    def builtin_paths(self) -> list[Path]:
        """Built-in prompt files whose name the project does not define, sorted by name."""
        if self.builtin_folder is None:
            return []
        own = {p.stem for p in self.paths()}
        return [p for p in _prompt_files(self.builtin_folder) if p.stem not in own]

    def sources(self) -> list[tuple[Path, str]]:
        """Every prompt file with where it comes from: ``project`` or ``built-in``."""
        from enrich._builtin import BUILTIN, PROJECT

        return [*((p, PROJECT) for p in self.paths()),
                *((p, BUILTIN) for p in self.builtin_paths())]

    def load_file(self, path: Path) -> PromptFile:
        """Read and validate one prompt file."""
        raw = load_yaml_file(path, "prompt file")
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: a prompt file must be a YAML mapping",
                              "see prompts/ for examples")
        try:
            prompt = PromptFile.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
            raise ConfigError(f"{path}: `{where}`: {msg}", "fix the prompt file") from exc
        prompt.compile(path)
        return prompt

    def get(self, name: str) -> PromptFile:
        """The prompt called ``name`` (the file stem or its ``name`` field): the project's
        own, else the built-in one."""
        for paths in (self.paths(), self.builtin_paths()):
            path = self._find(paths, name)
            if path is not None:
                return self.load_file(path)
        if not self.folder.is_dir():
            raise ConfigError(f"unknown prompt `{name}`: there is no `prompts/` folder at "
                              f"{self.folder}",
                              "keep job files inside a project folder (the nearest folder "
                              "above the job file that holds prompts/), or start one with "
                              "`enrich init`")
        known = ", ".join(p.stem for p in self.paths()) or "none"
        builtin = ", ".join(p.stem for p in self.builtin_paths())
        raise ConfigError(f"unknown prompt `{name}` (looked in {self.folder})",
                          f"available prompts: {known}" + (f"; built-in: {builtin}"
                                                           if builtin else ""))

    @staticmethod
    def _find(paths: list[Path], name: str) -> Path | None:
        for path in paths:
            if path.stem == name:
                return path
        for path in paths:  # a file whose `name:` differs from its stem
            try:
                declared = load_yaml_file(path, "prompt file").get("name")
            except (ConfigError, AttributeError):
                continue  # a broken file only matters when it is the one asked for
            if declared == name:
                return path
        return None

    def all(self) -> list[PromptFile]:
        """Every prompt: the project's, then the built-in ones it does not override."""
        return [self.load_file(p) for p, _ in self.sources()]


def _prompt_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def diff_prompts(old: PromptFile, new: PromptFile) -> str:
    """A unified diff between two prompt versions (as YAML)."""
    return "".join(difflib.unified_diff(
        old.to_yaml().splitlines(keepends=True), new.to_yaml().splitlines(keepends=True),
        fromfile=f"{old.name}@{old.version}", tofile=f"{new.name}@{new.version}"))
