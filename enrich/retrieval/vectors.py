"""Corpus vectors computed once per (model, texts), optionally kept on disk.

Encoding a corpus is the slow part of evaluating a bi-encoder on CPU (1,398 Cranfield
abstracts: about a minute on 2 cores). The distillation steps encode the same corpus with the
same model several times (teacher, gain gate, final evaluation); with a cache folder each
(model, corpus) pair is encoded once. The key is the model folder, its weights' size and
modification time, and the texts, so a retrained model never reuses stale vectors.

Example:
    >>> corpus_vectors(encoder, "models/bi", texts, Path("work/vectors"))  # doctest: +SKIP
"""

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def model_key(model: Any) -> str | None:
    """A stable key for a model given as a folder or None (the packaged base model); None for
    an in-memory model (its vectors are not cached).

    Example:
        >>> model_key(object()) is None
        True
    """
    if model is not None and not isinstance(model, (str, Path)):
        return None
    from enrich.distill.base_model import resolve_model

    folder = Path(resolve_model(model))
    stamp = [f"{w}:{(folder / w).stat().st_size}:{(folder / w).stat().st_mtime_ns}"
             for w in WEIGHT_FILES if (folder / w).is_file()]
    return f"{folder.resolve()}|{'|'.join(stamp)}"


def corpus_vectors(encoder: Any, key: str | None, texts: list[str], cache_dir: Path | None,
                   batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
    """L2-normalised document vectors of ``texts``, read from ``cache_dir`` when present.

    Args:
        encoder: a ``SentenceTransformer`` (``encode_document``).
        key: :func:`model_key` of the encoder (None: never cached).
        texts: the documents, in order.
        cache_dir: where ``.npy`` files are kept (None: no cache).
        batch_size: encoding batch size.
        show_progress: a progress bar while encoding.

    Returns:
        ``(len(texts), dim)`` float32 array.
    """
    order = sorted(range(len(texts)), key=lambda i: texts[i])  # any order hits one file
    ordered = [texts[i] for i in order]
    path = None
    if key is not None and cache_dir is not None:
        digest = hashlib.sha256("\x1e".join([key, *ordered]).encode()).hexdigest()[:24]
        path = Path(cache_dir) / f"{digest}.npy"
    if path is not None and path.is_file():
        vectors = np.load(path)
    else:
        vectors = np.asarray(encoder.encode_document(
            ordered, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=show_progress), dtype=np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors)
    result = np.empty_like(vectors)
    result[order] = vectors
    return result
