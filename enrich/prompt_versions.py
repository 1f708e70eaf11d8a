"""Every known version of a prompt: the current file, the store and the file's git history.

Runs record the exact prompt content they used (``prompt_versions`` table), so a version can be
shown, diffed and run again (``prompt: NAME@VERSION`` in a job or suite) even after the file
changed; git history adds versions that never ran. A version is named by its hash, a unique
prefix of it, ``current`` or ``previous``.

Example:
    >>> versions = PromptVersions(Path("prompts"), Path("enrich.duckdb"))   # doctest: +SKIP
    >>> versions.resolve("item_metadata", "3f2a")                            # doctest: +SKIP
"""

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from enrich.errors import ConfigError
from enrich.prompts import PromptFile, PromptLibrary, diff_prompts
from enrich.yaml_files import load_yaml_text

if TYPE_CHECKING:
    from enrich.store import Store


class PromptVersions:
    """Versions of the prompts in ``folder`` (and in the store, if given).

    Args:
        folder: the project's ``prompts/`` folder.
        db: the store file to read recorded versions from (default: ``ENRICH_DB``); opened
            read-only, and only if it exists.
        store: an open store to read them from instead (a run's own store: DuckDB does not
            open one file twice in a process).
    """

    def __init__(self, folder: Path, db: Path | None = None, store: "Store | None" = None):
        self.library = PromptLibrary(folder)
        self.db = db
        self.store = store

    def versions(self, name: str) -> dict[str, PromptFile]:
        """Version → prompt, oldest first; the current file's version (if the file still
        exists) is last.

        Raises:
            ConfigError: no version of ``name`` is known anywhere.
        """
        found: dict[str, PromptFile] = {}
        for prompt in [*self._from_git(name), *self._from_store(name)]:
            found.setdefault(prompt.version, prompt)
        try:
            current = self.library.get(name)
        except ConfigError:
            if not found:
                raise
            return found
        found.pop(current.version, None)
        found[current.version] = current
        return found

    def resolve(self, name: str, version: str | None) -> PromptFile:
        """The prompt ``name`` at ``version`` (a hash, a unique prefix, ``current``,
        ``previous``; None is the current file).

        Raises:
            ConfigError: unknown or ambiguous version; the hint lists the known versions.
        """
        if version in (None, "", "current"):
            return self.library.get(name)
        versions = self.versions(name)
        order = list(versions)
        if version == "previous":
            if len(order) < 2:
                raise ConfigError(f"prompt `{name}` has only one known version",
                                  "commit or run an older version first")
            return versions[order[-2]]
        matches = [v for v in order if v.startswith(version)]
        if len(matches) != 1:
            what = "is ambiguous" if matches else "is unknown"
            raise ConfigError(f"version `{version}` of prompt `{name}` {what}",
                              f"known versions (oldest first): {', '.join(order)}; see "
                              f"`enrich prompts diff {name}`")
        return versions[matches[0]]

    def _from_store(self, name: str) -> list[PromptFile]:
        query = "SELECT content FROM prompt_versions WHERE name = ? ORDER BY first_seen"
        if self.store is not None:
            rows = self.store.sql(query, [name]).fetchall()
        else:
            from enrich.settings import EnrichSettings
            from enrich.store import Store

            path = Path(self.db or EnrichSettings().db).expanduser()
            if not path.exists():
                return []
            with Store(path, read_only=True) as store:
                rows = store.sql(query, [name]).fetchall()
        return [PromptFile.model_validate(orjson.loads(r[0])) for r in rows]

    def _from_git(self, name: str) -> list[PromptFile]:
        path = next((p for p in self.library.paths() if p.stem == name), None)
        if path is None:
            return []
        try:
            commits = subprocess.run(
                ["git", "log", "--reverse", "--format=%H", "--", path.name], cwd=path.parent,
                capture_output=True, text=True, check=True, timeout=10).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return []
        prompts = []
        for commit in commits:
            shown = subprocess.run(["git", "show", f"{commit}:./{path.name}"], cwd=path.parent,
                                   capture_output=True, text=True, timeout=10)
            try:
                raw = load_yaml_text(shown.stdout, f"{path.name}@{commit[:8]}", "prompt file")
                prompts.append(PromptFile.model_validate(raw))
            except Exception:  # noqa: BLE001 - an old, invalid revision is skipped
                continue
        return prompts

    def diff(self, name: str, old: str | None = None, new: str | None = None) -> str:
        """Unified diff between versions ``old`` and ``new`` (default: previous → current)."""
        versions = self.versions(name)
        order = list(versions)
        new = new or order[-1]
        if old is None:
            if len(order) < 2:
                return ""
            old = order[order.index(new) - 1] if order.index(new) > 0 else order[0]
        for v in (old, new):
            if v not in versions:
                raise ConfigError(f"prompt `{name}` has no version `{v}`",
                                  f"known versions: {', '.join(order)}")
        return diff_prompts(versions[old], versions[new])


def load_prompt(root: Path, ref: str, store: "Store | None" = None) -> PromptFile:
    """The prompt a job names: ``NAME`` (the current file in ``root/prompts``) or
    ``NAME@VERSION`` (from the store's prompt history or the file's git history).

    Args:
        root: the project root.
        ref: ``NAME`` or ``NAME@VERSION``.
        store: the run's store, whose ``prompt_versions`` hold every version that ran.

    Returns:
        The prompt at that version.

    Raises:
        ConfigError: unknown prompt, or unknown / ambiguous version.
    """
    name, _, version = ref.partition("@")
    if not name:
        raise ConfigError(f"`{ref}` names no prompt", "write PROMPT or PROMPT@VERSION")
    if not version:
        return PromptLibrary(root / "prompts").get(name)
    return PromptVersions(root / "prompts", store=store).resolve(name, version)
