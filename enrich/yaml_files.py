"""The one way ``enrich`` reads YAML written by users: job, prompt and suite files.

YAML anchors and aliases (``&name`` / ``*name``) let a file of a few hundred bytes expand to
gigabytes in memory (the "billion laughs" attack), and a job file has no need for them. They
are refused with a one-line error naming the file and the line, before anything is expanded.
Files over :data:`MAX_YAML_BYTES` and nesting deeper than Python's recursion limit are refused
the same way.

Example:
    >>> load_yaml_text("name: demo\\nconcurrency: 4\\n", "job.yaml")
    {'name': 'demo', 'concurrency': 4}
"""

from pathlib import Path
from typing import Any

import yaml

from enrich.errors import ConfigError

MAX_YAML_BYTES = 4 * 1024 * 1024  # far beyond any real job, prompt or suite file


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors and aliases while composing (before expansion)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            name = getattr(event, "anchor", None) or "?"
            raise _AliasRefused(name, event.start_mark.line + 1)
        return super().compose_node(parent, index)


class _AliasRefused(Exception):
    def __init__(self, anchor: str, line: int):
        super().__init__(anchor)
        self.anchor = anchor
        self.line = line


def load_yaml_text(text: str, where: str | Path, kind: str = "file") -> Any:
    """Parse YAML text safely (no anchors or aliases, bounded size and depth).

    Args:
        text: the YAML document.
        where: the file it came from (named in errors).
        kind: what the file is ("job file", "prompt file", ...), for the hint.

    Returns:
        The parsed value (usually a dict).

    Raises:
        ConfigError: the text is too large, uses anchors/aliases, nests too deeply or is not
            valid YAML.
    """
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{where} is {len(text):,} characters, over the "
                          f"{MAX_YAML_BYTES:,} a YAML {kind} may have",
                          f"check that this is the right {kind}")
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except _AliasRefused as exc:
        raise ConfigError(f"{where}: line {exc.line} uses a YAML anchor or alias "
                          f"(&{exc.anchor} / *{exc.anchor}), which enrich does not expand",
                          "write the repeated values out in full") from None
    except RecursionError:
        raise ConfigError(f"{where}: the YAML nests too deeply",
                          f"check that this is the right {kind}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        raise ConfigError(f"{where}:{line} is not valid YAML"
                          + (f" ({problem})" if problem else ""),
                          "fix the YAML syntax") from exc


def load_yaml_file(path: Path, kind: str = "file") -> Any:
    """Read and parse a UTF-8 YAML file with :func:`load_yaml_text`.

    Args:
        path: the file.
        kind: what the file is ("job file", "prompt file", "suite file").

    Returns:
        The parsed value.

    Raises:
        ConfigError: the file is too large, not UTF-8, or not acceptable YAML.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", "check the path") from exc
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{path} is {size:,} bytes, over the {MAX_YAML_BYTES:,} a YAML "
                          f"{kind} may have", f"check that this is the right {kind}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text", f"save the {kind} as UTF-8") from exc
    return load_yaml_text(text, path, kind)
