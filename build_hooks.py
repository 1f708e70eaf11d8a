"""Build step of the wheel: ship the built-in library inside the package.

The repository root keeps ``prompts/``, ``schemas/``, ``jobs/`` and ``eval/`` where the user's
guide and the tests use them (one source of truth). ``build_py`` copies them into
``enrich/_builtin/`` of the build, so an installed enrich has its prompt library, output
schemas, example jobs and the Cranfield evaluation suites as package data
(:mod:`enrich._builtin` finds them). Editable installs copy nothing: there the checkout is the
library. pyproject.toml names this class in ``[tool.setuptools.cmdclass]``.
"""

from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
TARGET = ("enrich", "_builtin")
# (folder relative to the repository root, file patterns shipped from it). Only suites whose
# golden files are shipped: the Home Depot golden set is Kaggle data for internal use only,
# so bad_match_homedepot stays in the repository.
LIBRARY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("prompts", ("*.yaml", "*.yml")),
    ("schemas", ("*.py", "*.json")),
    ("jobs", ("*.yaml", "*.yml")),
    ("eval/suites", ("cranfield_*.yaml",)),
    ("eval/golden", ("cranfield_*.jsonl", "cranfield_*.tsv")),
)


def library_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """Every file of the built-in library with its path inside ``enrich/_builtin/``.

    Args:
        root: the repository (or unpacked sdist) root.

    Returns:
        (source file, relative destination) pairs, sorted.

    Raises:
        FileNotFoundError: a library folder is missing (an sdist built without MANIFEST.in).
    """
    found = []
    for folder, patterns in LIBRARY:
        if not (root / folder).is_dir():
            raise FileNotFoundError(f"{root / folder} is missing: the built-in library is "
                                    "built from the repository's prompts/, schemas/, jobs/ "
                                    "and eval/ (see MANIFEST.in)")
        for pattern in patterns:
            found += [(path, f"{folder}/{path.name}") for path in (root / folder).glob(pattern)
                      if not path.name.startswith("_")]
    return sorted(found)


class BuildPyWithLibrary(build_py):
    """``build_py`` that also copies the built-in library into ``enrich/_builtin/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # the checkout is its own library
            return
        target = Path(self.build_lib, *TARGET)
        for source, relative in library_files():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(source), str(destination))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """The package's files plus the copied library (for install records)."""
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            target = Path(self.build_lib, *TARGET)
            outputs += [str(target / relative) for _, relative in library_files()]
        return outputs
