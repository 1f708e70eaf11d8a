"""Distil LLM outputs into a cross-encoder reranker (sentence-transformers ``CrossEncoder``).

Binary targets (``bce``, ``lambda``): 1 for a kept synthetic query and its item, 0 for the hard
negatives mined for it, and 1 − P(bad) for pairs the LLM judged (``match_labels``), with
:class:`~sentence_transformers.cross_encoder.losses.BinaryCrossEntropyLoss` on pairs (soft
labels are fine) or the listwise :class:`~sentence_transformers.cross_encoder.losses.LambdaLoss`.

Teacher targets (data built with ``enrich distill data --teacher``): ``mse`` regresses the
teacher's standardised score of every (query, item) pair
(:class:`~sentence_transformers.cross_encoder.losses.MSELoss`), ``margin-mse`` its margin
between the positive and each negative (:class:`~sentence_transformers.cross_encoder.losses.
MarginMSELoss`), so a mined "negative" the teacher likes is not pushed down.

The encoder comes from ``base_model`` (default all-MiniLM-L6-v2) with a new one-logit head;
a distilled bi-encoder folder is a valid starting point too (its encoder has seen the domain).
The gain gate (:func:`enrich.distill.gate.gate_reranker`) compares the first stage alone with
the first stage reranked, picks the blend weight on the synthetic dev split and writes both
into the card.

Training notes (Cranfield, CPU): with one mined negative per positive (balanced labels, only
the hardest, often near-duplicate negative) the BCE loss stayed at ln 2 = 0.693 for 28 steps;
with 3 negatives per positive (the default) a 20-step run at 2e-5 raised dev nDCG@10
0.695 → 0.815. MiniLM's [CLS] → pooler features are nearly constant across pairs (the model
was trained with mean pooling), so ``head_learning_rate`` can give the new classifier and the
pooler their own learning rate (trainer ``learning_rate_mapping``): it makes a few-step run on
tiny data learn, but 1e-3 lowered Cranfield dev nDCG@10 (0.706 → 0.660), so it is off by default.
"""

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from enrich.distill.dataset import DistillDataset
from enrich.distill.gate import gate_metrics, gate_reranker, gate_sets
from enrich.distill.training import TrainingOptions, set_up_cpu, trainer_arguments
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

    loss: Literal["bce", "lambda", "mse", "margin-mse"] = "bce"
    num_negatives: int = Field(default=3, ge=0, le=10, description="mined negatives per pair")
    max_length: int = Field(default=256, ge=16, le=512, description="query + item tokens")
    head_learning_rate: float | None = Field(
        default=None, gt=0, description="learning rate of the new classifier head and the "
        "pooler (None: the encoder's learning rate)")
    layers: int | None = Field(default=None, ge=1, description="keep only the base model's "
                               "first N transformer layers (None: all); fewer layers rerank "
                               "faster (enrich.retrieval.compact)")
    eval_qrels: Path | None = Field(default=None, description="human qrels for the gate")
    eval_queries: Path | None = Field(default=None, description="their queries (query_id, text)")
    eval_corpus: Path | None = Field(default=None, description="their corpus (item_id, text)")
    gate_first_stage: str | None = Field(default=None, description="bi-encoder whose top "
                                         "gate_depth the gate reranks (default the base one)")
    gate_depth: int = Field(default=30, ge=2, description="candidates reranked by the gate")
    gate_resamples: int = Field(default=1000, ge=0, description="bootstrap resamples")


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
        train = self._train_set(data)
        heldouts = gate_sets(cfg, data)
        model = self._load_model()
        trainer = CrossEncoderTrainer(model=model, args=self._arguments(), train_dataset=train,
                                      loss=self._loss(model))
        started = time.perf_counter()
        trainer.train()
        steps = {"steps": int(trainer.state.global_step),
                 "seconds": round(time.perf_counter() - started, 1)}
        losses_seen = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
        gate = gate_reranker(model, cfg.gate_first_stage, heldouts, cfg.gate_depth,
                             cfg.gate_resamples, cfg.vector_cache) if heldouts else {
            "verdict": "not measured", "results": []}
        before, after = gate_metrics(gate)
        cfg.out.mkdir(parents=True, exist_ok=True)
        model.save(str(cfg.out))
        rows = {"labeled": len(train)}
        write_model_card(cfg.out, "cross-encoder", data.manifest, cfg.model_dump(mode="json"),
                         before, after, rows, gate=gate, training=steps)
        return {"out": str(cfg.out), "before": before, "after": after, "train_rows": rows,
                "loss": losses_seen, "gate": gate, "training": steps}

    def _train_set(self, data: DistillDataset) -> "Dataset":
        cfg = self.config
        if cfg.loss == "mse":
            train = data.teacher_pairs("train", cfg.num_negatives)
        elif cfg.loss == "margin-mse":
            frame = data.teacher_triplets("train", cfg.num_negatives)
            train = standardised_margins(frame)
        else:
            train = data.labeled_pairs("train", cfg.num_negatives)
        if len(train) == 0:
            raise ConfigError(f"{cfg.data}: no labelled pairs for a cross-encoder",
                              "the data needs kept synthetic queries or match_labels; rebuild "
                              "it with `enrich distill data`")
        return to_lists(train) if cfg.loss == "lambda" else train

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
        if self.config.loss == "mse":
            return losses.MSELoss(model)
        if self.config.loss == "margin-mse":
            return losses.MarginMSELoss(model)
        return losses.BinaryCrossEntropyLoss(model)

    def _arguments(self) -> Any:
        from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

        mapping = ({r"classifier\.|pooler\.": self.config.head_learning_rate}
                   if self.config.head_learning_rate else {})
        return trainer_arguments(self.config, CrossEncoderTrainingArguments,
                                 learning_rate_mapping=mapping)


def standardised_margins(triplets: "Dataset") -> "Dataset":
    """Teacher margins divided by their spread (cross-encoder logits have no fixed scale).

    Example:
        >>> standardised_margins(Dataset.from_dict({"query": ["q", "q"], "positive": ["a", "a"],
        ...     "negative": ["b", "c"], "label": [0.1, 0.3]}))["label"]   # doctest: +SKIP
        [1.0, 3.0]
    """
    import numpy as np

    labels = np.asarray(triplets["label"], dtype=np.float64)
    spread = float(np.sqrt(np.mean(labels ** 2))) if len(labels) else 1.0
    spread = spread or 1.0
    return triplets.remove_columns("label").add_column("label", (labels / spread).tolist())


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
