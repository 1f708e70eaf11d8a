"""What the bi-encoder and cross-encoder trainers share: options, CPU set-up, metric names."""

import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TrainingOptions(BaseModel):
    """Training options common to both model kinds (CPU-friendly defaults).

    Example:
        >>> TrainingOptions(data=Path("d"), out=Path("m")).batch_size
        32
    """

    model_config = ConfigDict(extra="forbid")

    data: Path = Field(description="folder written by `enrich distill data`")
    out: Path = Field(description="where the trained model is saved")
    base_model: str | None = Field(default=None, description="default all-MiniLM-L6-v2")
    epochs: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=32, ge=2)
    learning_rate: float = Field(default=2e-5, gt=0)
    warmup: float = Field(default=0.1, ge=0, lt=1, description="warm-up ratio of the steps")
    max_steps: int | None = Field(default=None, ge=1, description="stop after N steps")
    num_negatives: int = Field(default=1, ge=0, le=10, description="mined negatives per pair")
    threads: int | None = Field(default=None, ge=1, description="torch CPU threads")
    seed: int = 42
    logging_steps: int = Field(default=10, ge=1, description="log the training loss every N")
    vector_cache: Path | None = Field(default=None, description="keep corpus vectors of the "
                                      "gain gate here (enrich.retrieval.vectors)")
    show_progress: bool = True


def set_up_cpu(threads: int | None) -> None:
    """Offline mode, CPU threads and quiet libraries for a training or scoring process."""
    import torch
    from transformers.utils import logging as transformers_logging

    from enrich.distill.base_model import set_offline

    set_offline()
    transformers_logging.set_verbosity_error()  # no load reports for the new head
    if threads:
        torch.set_num_threads(threads)


def trainer_arguments(options: TrainingOptions, args_class: type, **extra: Any) -> Any:
    """Training arguments for a sentence-transformers trainer: CPU, no checkpoints, no hub.

    Args:
        options: the common options.
        args_class: ``SentenceTransformerTrainingArguments`` or
            ``CrossEncoderTrainingArguments``.
        extra: more arguments (e.g. ``batch_sampler``).

    Returns:
        An instance of ``args_class``.
    """
    scratch = Path(tempfile.mkdtemp(prefix="enrich-train-"))
    return args_class(
        output_dir=str(scratch), num_train_epochs=options.epochs,
        per_device_train_batch_size=options.batch_size, learning_rate=options.learning_rate,
        warmup_steps=options.warmup, max_steps=options.max_steps or -1, seed=options.seed,
        save_strategy="no", eval_strategy="no", logging_steps=options.logging_steps,
        report_to="none", use_cpu=True, disable_tqdm=not options.show_progress,
        dataloader_num_workers=0, **extra)


def short_metrics(results: dict[str, float], prefix: str) -> dict[str, float]:
    """``{"dev_cosine_ndcg@10": x}`` → ``{"ndcg@10": x}`` for the metrics worth reporting."""
    keep = ("ndcg@10", "mrr@10", "recall@10", "recall@100", "map", "accuracy@1")
    short: dict[str, float] = {}
    for key, value in results.items():
        name = key.removeprefix(prefix).removeprefix("_").removeprefix("cosine_")
        if name in keep:
            short[name] = round(float(value), 4)
    return short
