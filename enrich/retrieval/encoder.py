"""Load bi-encoders and cross-encoders from local folders (offline, CPU)."""

from pathlib import Path
from typing import Any

from enrich.distill.base_model import DEFAULT_BASE_MODEL, resolve_model, set_offline


def quiet_loading() -> None:
    """Offline mode, and no weight-loading bars or load reports from transformers."""
    set_offline()
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def model_name(model: str | Path | None) -> str:
    """The name stored with an index: ``all-MiniLM-L6-v2`` or an absolute folder path.

    Example:
        >>> model_name(None)
        'all-MiniLM-L6-v2'
    """
    if model is None or str(model) == DEFAULT_BASE_MODEL:
        return DEFAULT_BASE_MODEL
    return str(Path(model).expanduser().resolve())


def load_bi_encoder(model: Any = None, max_seq_length: int | None = None) -> tuple[Any, str]:
    """A ``SentenceTransformer`` on CPU and its name.

    Args:
        model: a loaded ``SentenceTransformer``, a model folder, or None for all-MiniLM-L6-v2.
        max_seq_length: truncate texts to this many tokens (default: the model's).

    Returns:
        ``(model, name)``.

    Raises:
        ConfigError: the folder is not a model (nothing is ever downloaded).
    """
    if model is not None and not isinstance(model, (str, Path)):
        return model, "in-memory model"
    quiet_loading()
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(resolve_model(model), device="cpu", local_files_only=True)
    if max_seq_length:
        encoder.max_seq_length = max_seq_length
    return encoder, model_name(model)


def load_cross_encoder(model: Any = None, max_length: int | None = None) -> tuple[Any, str]:
    """A ``CrossEncoder`` on CPU and its name.

    Args:
        model: a loaded ``CrossEncoder`` or a model folder (a distilled cross-encoder). None
            loads all-MiniLM-L6-v2 with an untrained head: useful only as a baseline.
        max_length: truncate query + item to this many tokens.

    Returns:
        ``(model, name)``.
    """
    if model is not None and not isinstance(model, (str, Path)):
        return model, "in-memory model"
    quiet_loading()
    from sentence_transformers import CrossEncoder

    return (CrossEncoder(resolve_model(model), num_labels=1, max_length=max_length,
                         device="cpu", local_files_only=True), model_name(model))
