"""Distil LLM outputs into a cross-encoder reranker (sentence-transformers ``CrossEncoder``).

Targets per (query, item) pair, in [0, 1]: 1 for a kept synthetic query and its item, 0 for the
hard negatives mined for it, and 1 − P(bad) for pairs the LLM judged (``match_labels``).
Losses: :class:`~sentence_transformers.cross_encoder.losses.BinaryCrossEntropyLoss` on pairs
(soft labels are fine), or the listwise
:class:`~sentence_transformers.cross_encoder.losses.LambdaLoss` over each query's items. The
head starts from all-MiniLM-L6-v2's encoder with a new one-logit classifier.

Training notes (Cranfield, CPU): with one mined negative per positive (balanced labels, only
the hardest, often near-duplicate negative) the BCE loss stayed at ln 2 = 0.693 for 28 steps;
with 3 negatives per positive (the default) a 20-step run at 2e-5 raised dev nDCG@10
0.695 → 0.815. MiniLM's [CLS] → pooler features are nearly constant across pairs (the model
was trained with mean pooling), so ``head_learning_rate`` can give the new classifier and the
pooler their own learning rate (trainer ``learning_rate_mapping``): it makes a few-step run on
tiny data learn, but 1e-3 lowered Cranfield dev nDCG@10 (0.706 → 0.660), so it is off by default.
"""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from enrich.distill.dataset import DistillDataset
from enrich.distill.training import TrainingOptions, set_up_cpu, short_metrics, trainer_arguments
from enrich.errors import ConfigError

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import CrossEncoder


class CrossEncoderConfig(TrainingOptions):
    """Options of ``enrich distill crossencoder``.

    Example:
        >>> CrossEncoderConfig(data=Path("d"), out=Path("m")).loss
        'bce'
    """

    loss: Literal["bce", "lambda"] = "bce"
    num_negatives: int = Field(default=3, ge=0, le=10, description="mined negatives per pair")
    max_length: int = Field(default=256, ge=16, le=512, description="query + item tokens")
    head_learning_rate: float | None = Field(
        default=None, gt=0, description="learning rate of the new classifier head and the "
        "pooler (None: the encoder's learning rate)")
    layers: int | None = Field(default=None, ge=1, description="keep only the base model's "
                               "first N transformer layers (None: all); fewer layers rerank "
                               "faster (enrich.retrieval.compact)")


class CrossEncoderDistiller:
    """Train a cross-encoder on a distillation data folder and save it with a model card.

    Args:
        config: data folder, output folder and training options.

    Example:
        >>> config = CrossEncoderConfig(data=Path("data"), out=Path("models/ce"))  # doctest: +SKIP
        >>> CrossEncoderDistiller(config).run()["after"]                          # doctest: +SKIP
        {'map': 0.71, 'mrr@10': 0.72, 'ndcg@10': 0.78}
    """

    def __init__(self, config: CrossEncoderConfig):
        self.config = config

    def run(self) -> dict[str, Any]:
        """Evaluate the untrained head, train, evaluate again, save.

        Returns:
            ``{"out", "before", "after", "train_rows", "loss"}`` (reranking metrics on the dev
            split; ``loss``: the training loss logged every ``logging_steps``).

        Raises:
            ConfigError: the data folder has no labelled pairs.
        """
        from sentence_transformers.cross_encoder import CrossEncoderTrainer

        from enrich.distill.model_card import write_model_card

        cfg = self.config
        set_up_cpu(cfg.threads)
        data = DistillDataset(cfg.data)
        train = data.labeled_pairs("train", cfg.num_negatives)
        if len(train) == 0:
            raise ConfigError(f"{cfg.data}: no labelled pairs for a cross-encoder",
                              "the data needs kept synthetic queries or match_labels; rebuild "
                              "it with `enrich distill data`")
        model = self._load_model()
        evaluator = self._evaluator(data)
        before = short_metrics(evaluator(model), "dev") if evaluator else {}
        if cfg.loss == "lambda":
            train = to_lists(train)
        trainer = CrossEncoderTrainer(model=model, args=self._arguments(), train_dataset=train,
                                      loss=self._loss(model))
        trainer.train()
        losses_seen = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
        after = short_metrics(evaluator(model), "dev") if evaluator else {}
        cfg.out.mkdir(parents=True, exist_ok=True)
        model.save(str(cfg.out))
        rows = {"labeled": len(train)}
        write_model_card(cfg.out, "cross-encoder", data.manifest, cfg.model_dump(mode="json"),
                         before, after, rows)
        return {"out": str(cfg.out), "before": before, "after": after, "train_rows": rows,
                "loss": losses_seen}

    def _load_model(self) -> "CrossEncoder":
        from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderModelCardData

        from enrich.distill.base_model import resolve_model
        from enrich.retrieval.compact import keep_layers

        card = CrossEncoderModelCardData(model_name="enrich distilled cross-encoder",
                                         local_files_only=True, generate_widget_examples=False)
        model = CrossEncoder(resolve_model(self.config.base_model), num_labels=1,
                             max_length=self.config.max_length, device="cpu",
                             model_card_data=card, local_files_only=True)
        return keep_layers(model, self.config.layers) if self.config.layers else model

    def _loss(self, model: "CrossEncoder") -> Any:
        from sentence_transformers.cross_encoder import losses

        if self.config.loss == "lambda":
            return losses.LambdaLoss(model)
        return losses.BinaryCrossEntropyLoss(model)

    def _evaluator(self, data: DistillDataset) -> Any:
        from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

        samples = data.rerank_samples("dev")
        if not samples:
            return None
        return CrossEncoderRerankingEvaluator(samples, at_k=10, name="dev", batch_size=64,
                                              show_progress_bar=self.config.show_progress,
                                              write_csv=False)

    def _arguments(self) -> Any:
        from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

        mapping = ({r"classifier\.|pooler\.": self.config.head_learning_rate}
                   if self.config.head_learning_rate else {})
        return trainer_arguments(self.config, CrossEncoderTrainingArguments,
                                 learning_rate_mapping=mapping)


def to_lists(pairs: "Dataset") -> "Dataset":
    """(query, document, label) rows → (query, [documents], [labels]) per query (listwise).

    Example:
        >>> to_lists(Dataset.from_dict({"query": ["q", "q"], "document": ["a", "b"],
        ...                             "label": [1.0, 0.0]}))["docs"]      # doctest: +SKIP
        [['a', 'b']]
    """
    from datasets import Dataset

    grouped: dict[str, tuple[list[str], list[float]]] = {}
    for query, doc, label in zip(pairs["query"], pairs["document"], pairs["label"], strict=True):
        docs, labels = grouped.setdefault(query, ([], []))
        docs.append(doc)
        labels.append(float(label))
    return Dataset.from_dict({"query": list(grouped),
                              "docs": [v[0] for v in grouped.values()],
                              "labels": [v[1] for v in grouped.values()]})
