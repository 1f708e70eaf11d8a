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


class FastQueryEncoder:
    """Query vectors straight from the transformer: tokenise, one forward pass under
    ``torch.inference_mode``, mean pooling, L2 normalisation — what ``encode_query`` computes
    for a Transformer → mean Pooling (→ Normalize) model, without its per-call bookkeeping
    (≈ 10% of a short query's CPU time on 2 cores). Optionally with int8 linear layers.

    Args:
        model: a loaded ``SentenceTransformer`` of that shape (see :func:`fast_query_encoder`).
        int8: quantise the linear layers to int8 (≈ 2× less CPU per query; the vectors move:
            cosine ≈ 0.93 to the fp32 ones for MiniLM; Cranfield nDCG@10 0.364 → 0.362).
    """

    def __init__(self, model: Any, int8: bool = False):
        import torch

        self.tokenizer = model.tokenizer
        self.max_length = int(model.max_seq_length or 256)
        transformer = model[0].auto_model
        self.transformer = torch.ao.quantization.quantize_dynamic(
            transformer, {torch.nn.Linear}, dtype=torch.qint8) if int8 else transformer
        self.transformer.eval()

    def __call__(self, texts: list[str]) -> Any:
        """``(len(texts), dim)`` float32 numpy array of unit vectors."""
        import torch

        with torch.inference_mode():
            features = self.tokenizer(texts, padding=True, truncation=True,
                                      max_length=self.max_length, return_tensors="pt")
            tokens = self.transformer(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def fast_query_encoder(model: Any, int8: bool = False) -> FastQueryEncoder | None:
    """A :class:`FastQueryEncoder` when ``model`` is Transformer → mean Pooling (→ Normalize)
    without prompts, else None (callers fall back to ``encode_query``)."""
    try:
        modules = list(model)
    except TypeError:
        return None
    names = [type(m).__name__ for m in modules]
    if names not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        return None
    prompts = getattr(model, "prompts", None) or {}
    if getattr(modules[1], "pooling_mode", None) != "mean" or any(prompts.values()):
        return None
    if not hasattr(modules[0], "auto_model") or getattr(model, "tokenizer", None) is None:
        return None
    return FastQueryEncoder(model, int8=int8)
