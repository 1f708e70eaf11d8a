"""Every known version of a prompt: the current file, the store and the file's git history.

Runs record the exact prompt content they used (``prompt_versions`` table), so a version can be
shown and diffed even after the file changed; git history adds versions that never ran.
"""

import subprocess
from pathlib import Path

import orjson
import yaml

from enrich.errors import ConfigError
from enrich.prompts import PromptFile, PromptLibrary, diff_prompts


class PromptVersions:
    """Versions of the prompts in ``folder`` (and in the store at ``db``, if given)."""

    def __init__(self, folder: Path, db: Path | None = None):
        self.library = PromptLibrary(folder)
        self.db = db

    def versions(self, name: str) -> dict[str, PromptFile]:
        """Version → prompt, oldest first; the current file's version is last."""
        found: dict[str, PromptFile] = {}
        for prompt in [*self._from_git(name), *self._from_store(name)]:
            found.setdefault(prompt.version, prompt)
        current = self.library.get(name)
        found.pop(current.version, None)
        found[current.version] = current
        return found

    def _from_store(self, name: str) -> list[PromptFile]:
        from enrich.settings import EnrichSettings
        from enrich.store import Store

        path = self.db or EnrichSettings().db
        if not Path(path).exists():
            return []
        with Store(path, read_only=True) as store:
            rows = store.sql("SELECT content FROM prompt_versions WHERE name = ? "
                             "ORDER BY first_seen", [name]).fetchall()
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
                prompts.append(PromptFile.model_validate(yaml.safe_load(shown.stdout)))
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
