"""The built-in library: the prompts, schemas, example jobs and evaluation suites of enrich.

One source of truth: the repository root keeps ``prompts/``, ``schemas/``, ``jobs/`` and
``eval/`` (the user's guide and the tests use them there). Building a wheel copies them into
this package (``build_hooks.py``, a ``build_py`` step), so an installed enrich has them as
package data next to this file. In a checkout (an editable install) there is no copy: the
repository root itself is the built-in library. ``starter/`` holds what ``enrich init`` writes
besides the library's files.

A project's own ``prompts/`` and ``schemas/`` come first; the built-in library fills in the
names the project does not define (see :class:`enrich.prompts.PromptLibrary` and
:class:`enrich.schema_registry.SchemaRegistry`).

Example:
    >>> root = builtin_root()                                   # doctest: +SKIP
    >>> sorted(p.stem for p in (root / "prompts").glob("*.yaml"))[:2]   # doctest: +SKIP
    ['bad_match', 'cranfield_queries']
"""

from importlib import resources
from pathlib import Path

BUILTIN = "built-in"
PROJECT = "project"


def _package_dir() -> Path:
    return Path(str(resources.files(__name__)))


def builtin_root() -> Path | None:
    """The folder holding the built-in ``prompts/``, ``schemas/``, ``jobs/`` and ``eval/``.

    Returns:
        The copy inside the installed package, else the repository root of a checkout, else
        None (a broken install without its package data).
    """
    packaged = _package_dir()
    if (packaged / "prompts").is_dir():
        return packaged
    checkout = packaged.parent.parent
    if (checkout / "prompts").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    return None


def builtin_folder(kind: str, project_folder: Path | None = None) -> Path | None:
    """The built-in folder ``kind`` (``prompts``, ``schemas``, ``jobs``, ``eval/suites``).

    Args:
        kind: the folder, relative to the built-in root.
        project_folder: the project's own folder of that kind; when it *is* the built-in one
            (working inside the checkout), None is returned so nothing is listed twice.

    Returns:
        The folder, or None when there is none or it is the project's own.
    """
    root = builtin_root()
    if root is None or not (root / kind).is_dir():
        return None
    folder = (root / kind).resolve()
    if project_folder is not None and Path(project_folder).resolve() == folder:
        return None
    return folder


def starter_dir() -> Path:
    """The files ``enrich init`` writes next to the copied prompt and schema."""
    return _package_dir() / "starter"


# what `enrich init` writes: destination in the project -> (library folder, file) or starter file
STARTER_FILES: dict[str, tuple[str, str]] = {
    "README.md": ("starter", "README.md"),
    ".gitignore": ("starter", "gitignore"),
    "jobs/item_metadata.yaml": ("starter", "jobs/item_metadata.yaml"),
    "data/items.csv": ("starter", "data/items.csv"),
    "prompts/item_metadata.yaml": ("prompts", "item_metadata.yaml"),
    "schemas/item_metadata.py": ("schemas", "item_metadata.py"),
}


def write_starter(directory: Path, force: bool = False) -> list[Path]:
    """Write a starter project: a job, its prompt and schema, sample rows and a README.

    Nothing is written when a file would be overwritten (unless ``force``).

    Args:
        directory: the project folder (created when missing).
        force: overwrite the starter's files when they exist.

    Returns:
        The files written, in :data:`STARTER_FILES` order.

    Raises:
        ConfigError: a file exists (without ``force``), or the install lacks its library.
    """
    from enrich.errors import ConfigError

    root = builtin_root()
    if root is None:
        raise ConfigError("the built-in library is missing from this enrich install",
                          "reinstall it: pip install --force-reinstall enrich")
    sources = {target: (starter_dir() if folder == "starter" else root / folder) / name
               for target, (folder, name) in STARTER_FILES.items()}
    existing = [directory / t for t in sources if (directory / t).exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} already exists",
                          "choose a new or empty folder, or pass --force to overwrite the "
                          "starter's files")
    written = []
    for target, source in sources.items():
        path = directory / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source.read_bytes())
        written.append(path)
    return written
