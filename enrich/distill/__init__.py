"""Distil LLM outputs into small fast models: training data, bi-encoder, cross-encoder.

Public API (imported lazily, so ``import enrich.distill`` loads neither torch nor
sentence-transformers)::

    from enrich.distill import DistillDataBuilder, DistillDataConfig, DistillDataset
    from enrich.distill import BiEncoderDistiller, BiEncoderConfig
    from enrich.distill import CrossEncoderDistiller, CrossEncoderConfig
    from enrich.distill import build_teacher, LLMTeacher            # graded relevance (GPL)
    from enrich.distill import read_gate                            # a model card's verdict

Example:
    >>> from enrich.distill import DistillDataBuilder, DistillDataConfig   # doctest: +SKIP
    >>> DistillDataBuilder(DistillDataConfig(db=Path("enrich.duckdb"),     # doctest: +SKIP
    ...                                      out=Path("distill/data"))).build()
"""

import importlib
from typing import Any

_EXPORTS = {
    "DistillDataBuilder": "enrich.distill.data",
    "DistillDataConfig": "enrich.distill.data",
    "DistillDataset": "enrich.distill.dataset",
    "HardNegativeMiner": "enrich.distill.mining",
    "BiEncoderDistiller": "enrich.distill.biencoder",
    "BiEncoderConfig": "enrich.distill.biencoder",
    "CrossEncoderDistiller": "enrich.distill.crossencoder",
    "CrossEncoderConfig": "enrich.distill.crossencoder",
    "write_model_card": "enrich.distill.model_card",
    "build_teacher": "enrich.distill.teachers",
    "LLMTeacher": "enrich.distill.llm_teacher",
    "read_gate": "enrich.distill.gate",
    "serving_warning": "enrich.distill.gate",
    "resolve_model": "enrich.distill.base_model",
    "minilm_path": "enrich.distill.base_model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'enrich.distill' has no attribute {name!r}")
