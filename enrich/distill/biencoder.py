"""Distil LLM outputs into a bi-encoder (sentence-transformers, trained with its own trainer).

Training sets, one loss each, mixed by the trainer's multi-dataset sampler:

- ``synthetic``: (synthetic query, item, mined hard negatives) with
  :class:`~sentence_transformers.losses.MultipleNegativesRankingLoss` (or the cached variant,
  which allows large batches in little memory); with ``loss="margin-mse"`` (GPL) the same
  triples with :class:`~sentence_transformers.losses.MarginMSELoss` on the teacher's margin
  ``teacher(q, pos) − teacher(q, neg)`` (data built with ``enrich distill data --teacher``);
- ``teacher``: (query, item a, item b, teacher margin) with
  :class:`~sentence_transformers.losses.MarginMSELoss`, when ``match_labels`` gave margins;
- ``users``: (user summary, liked item) with MultipleNegativesRankingLoss, when user summaries
  exist.

The gain gate (:mod:`enrich.distill.gate`) scores the base and the distilled model on the same
held-out queries — the synthetic dev split, and human qrels when given — with bootstrap
intervals, and writes the verdict into the model card.
"""

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from enrich.distill.dataset import DistillDataset
from enrich.distill.gate import gate_biencoder, gate_metrics, gate_sets
from enrich.distill.training import TrainingOptions, set_up_cpu, trainer_arguments
from enrich.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer


class BiEncoderConfig(TrainingOptions):
    """Options of ``enrich distill biencoder``.

    Example:
        >>> BiEncoderConfig(data=Path("d"), out=Path("m")).loss
        'mnrl'
    """

    loss: Literal["mnrl", "cached-mnrl", "margin-mse"] = "mnrl"
    mini_batch_size: int = Field(default=16, ge=1, description="cached-mnrl mini-batch")
    max_seq_length: int = Field(default=256, ge=16, le=512)
    use_margins: bool = Field(default=True, description="MarginMSE on teacher margins")
    use_user_pairs: bool = Field(default=True, description="user summary → liked item")
    eval_qrels: Path | None = Field(default=None, description="human qrels (query_id, doc_id, "
                                    "gain) for the gain gate")
    eval_queries: Path | None = Field(default=None, description="their queries (query_id, text)")
    eval_corpus: Path | None = Field(default=None, description="their corpus (item_id, text); "
                                     "default: the data's corpus")
    gate_resamples: int = Field(default=1000, ge=0, description="bootstrap resamples of the gate")


class BiEncoderDistiller:
    """Train a bi-encoder on a distillation data folder and save it with a model card.

    Args:
        config: data folder, output folder and training options.

    Example:
        >>> config = BiEncoderConfig(data=Path("data"), out=Path("models/bi"))   # doctest: +SKIP
        >>> report = BiEncoderDistiller(config).run()                            # doctest: +SKIP
        >>> report["after"]["ndcg@10"] > report["before"]["ndcg@10"]             # doctest: +SKIP
        True
    """

    def __init__(self, config: BiEncoderConfig):
        self.config = config

    def run(self) -> dict[str, Any]:
        """Evaluate the base model, train, evaluate again, save.

        Returns:
            ``{"out", "before", "after", "train_rows"}`` (metrics on the dev split).

        Raises:
            ConfigError: the data folder has no training rows.
        """
        from sentence_transformers import SentenceTransformerTrainer

        from enrich.distill.model_card import write_model_card

        cfg = self.config
        set_up_cpu(cfg.threads)
        data = DistillDataset(cfg.data)
        heldouts = gate_sets(cfg, data)
        model = self._load_model()
        train, losses = self._train_sets(model, data)
        single = len(train) == 1
        trainer = SentenceTransformerTrainer(
            model=model, args=self._arguments(),
            train_dataset=next(iter(train.values())) if single else train,
            loss=next(iter(losses.values())) if single else losses)
        started = time.perf_counter()
        trainer.train()
        steps = {"steps": int(trainer.state.global_step),
                 "seconds": round(time.perf_counter() - started, 1)}
        cfg.out.mkdir(parents=True, exist_ok=True)
        model.save(str(cfg.out))
        gate = gate_biencoder(cfg.base_model, str(cfg.out), heldouts, cfg.gate_resamples,
                              cfg.vector_cache) if heldouts else {"verdict": "not measured",
                                                                  "results": []}
        before, after = gate_metrics(gate)
        rows = {name: len(ds) for name, ds in train.items()}
        write_model_card(cfg.out, "bi-encoder", data.manifest, cfg.model_dump(mode="json"),
                         before, after, rows, gate=gate, training=steps)
        return {"out": str(cfg.out), "before": before, "after": after, "train_rows": rows,
                "gate": gate, "training": steps}

    def _load_model(self) -> "SentenceTransformer":
        from sentence_transformers import SentenceTransformer, SentenceTransformerModelCardData

        from enrich.distill.base_model import resolve_model

        card = SentenceTransformerModelCardData(
            model_name="enrich distilled bi-encoder", local_files_only=True,
            generate_widget_examples=False)
        model = SentenceTransformer(resolve_model(self.config.base_model), device="cpu",
                                    model_card_data=card, local_files_only=True)
        model.max_seq_length = self.config.max_seq_length
        return model

    def _train_sets(self, model: "SentenceTransformer", data: DistillDataset
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
        from sentence_transformers.sentence_transformer import losses

        cfg = self.config
        ranking: torch.nn.Module  # either in-batch-negatives loss
        if cfg.loss == "cached-mnrl":
            ranking = losses.CachedMultipleNegativesRankingLoss(
                model, mini_batch_size=cfg.mini_batch_size, show_progress_bar=False)
        else:
            ranking = losses.MultipleNegativesRankingLoss(model)
        train: dict[str, Any] = {}
        loss: dict[str, Any] = {}
        if cfg.loss == "margin-mse":
            synthetic = data.teacher_triplets("train", cfg.num_negatives)
            synthetic_loss: Any = losses.MarginMSELoss(model)
        else:
            synthetic, synthetic_loss = data.triplets("train", cfg.num_negatives), ranking
        if len(synthetic):
            train["synthetic"], loss["synthetic"] = synthetic, synthetic_loss
        margins = data.margins() if cfg.use_margins else None
        if margins is not None and len(margins):
            train["teacher"], loss["teacher"] = margins, losses.MarginMSELoss(model)
        users = data.user_pairs("train") if cfg.use_user_pairs else None
        if users is not None and len(users) >= 2:
            train["users"], loss["users"] = users, ranking
        if not train:
            raise ConfigError(f"{cfg.data}: no training rows for a bi-encoder",
                              "the data needs kept synthetic queries, teacher margins or user "
                              "pairs; rebuild it with `enrich distill data`")
        return train, loss

    def _arguments(self) -> Any:
        from sentence_transformers import SentenceTransformerTrainingArguments
        from sentence_transformers.base.sampler import BatchSamplers

        return trainer_arguments(self.config, SentenceTransformerTrainingArguments,
                                 batch_sampler=BatchSamplers.NO_DUPLICATES)
