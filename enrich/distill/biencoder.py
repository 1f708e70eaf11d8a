"""Distil LLM outputs into a bi-encoder (sentence-transformers, trained with its own trainer).

Training sets, one loss each, mixed by the trainer's multi-dataset sampler:

- ``synthetic``: (synthetic query, item, mined hard negatives) with
  :class:`~sentence_transformers.losses.MultipleNegativesRankingLoss` (or the cached variant,
  which allows large batches in little memory);
- ``teacher``: (query, item a, item b, teacher margin) with
  :class:`~sentence_transformers.losses.MarginMSELoss`, when ``match_labels`` gave margins;
- ``users``: (user summary, liked item) with MultipleNegativesRankingLoss, when user summaries
  exist.

The held-out split of the synthetic queries is scored with
:class:`~sentence_transformers.evaluation.InformationRetrievalEvaluator` before and after.
"""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from enrich.distill.dataset import DistillDataset
from enrich.distill.training import TrainingOptions, set_up_cpu, short_metrics, trainer_arguments
from enrich.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class BiEncoderConfig(TrainingOptions):
    """Options of ``enrich distill biencoder``.

    Example:
        >>> BiEncoderConfig(data=Path("d"), out=Path("m")).loss
        'mnrl'
    """

    loss: Literal["mnrl", "cached-mnrl"] = "mnrl"
    mini_batch_size: int = Field(default=16, ge=1, description="cached-mnrl mini-batch")
    max_seq_length: int = Field(default=256, ge=16, le=512)
    use_margins: bool = Field(default=True, description="MarginMSE on teacher margins")
    use_user_pairs: bool = Field(default=True, description="user summary → liked item")


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
        model = self._load_model()
        train, losses = self._train_sets(model, data)
        evaluator = self._evaluator(data)
        before = short_metrics(evaluator(model), "dev") if evaluator else {}
        single = len(train) == 1
        trainer = SentenceTransformerTrainer(
            model=model, args=self._arguments(),
            train_dataset=next(iter(train.values())) if single else train,
            loss=next(iter(losses.values())) if single else losses)
        trainer.train()
        after = short_metrics(evaluator(model), "dev") if evaluator else {}
        cfg.out.mkdir(parents=True, exist_ok=True)
        model.save(str(cfg.out))
        rows = {name: len(ds) for name, ds in train.items()}
        write_model_card(cfg.out, "bi-encoder", data.manifest, cfg.model_dump(mode="json"),
                         before, after, rows)
        return {"out": str(cfg.out), "before": before, "after": after, "train_rows": rows}

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
        if cfg.loss == "cached-mnrl":
            ranking = losses.CachedMultipleNegativesRankingLoss(
                model, mini_batch_size=cfg.mini_batch_size, show_progress_bar=False)
        else:
            ranking = losses.MultipleNegativesRankingLoss(model)
        train: dict[str, Any] = {}
        loss: dict[str, Any] = {}
        synthetic = data.triplets("train", cfg.num_negatives)
        if len(synthetic):
            train["synthetic"], loss["synthetic"] = synthetic, ranking
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

    def _evaluator(self, data: DistillDataset) -> Any:
        from sentence_transformers.sentence_transformer.evaluation import (
            InformationRetrievalEvaluator,
        )

        queries, corpus, relevant = data.retrieval_eval("dev")
        if not queries or not corpus:
            return None
        return InformationRetrievalEvaluator(
            queries, corpus, relevant, name="dev", mrr_at_k=[10], ndcg_at_k=[10],
            accuracy_at_k=[1], precision_recall_at_k=[10, 100], map_at_k=[100],
            batch_size=64, show_progress_bar=self.config.show_progress, write_csv=False)

    def _arguments(self) -> Any:
        from sentence_transformers import SentenceTransformerTrainingArguments
        from sentence_transformers.base.sampler import BatchSamplers

        return trainer_arguments(self.config, SentenceTransformerTrainingArguments,
                                 batch_sampler=BatchSamplers.NO_DUPLICATES)
