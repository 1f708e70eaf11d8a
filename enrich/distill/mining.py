"""Hard negatives for (query, positive item) pairs, mined with a bi-encoder and a margin.

Wraps :func:`sentence_transformers.util.mine_hard_negatives` (the "TopK-PercPos" method of
NV-Retriever): candidates come from the nearest items of each query, and a candidate is skipped
when it scores within ``relative_margin`` of the query's positive, so near-duplicates of the
positive (likely unlabelled positives) are not taken as negatives. Results are mapped back to item
ids, and a final check drops any negative that is one of the query's own positives.
"""

from typing import TYPE_CHECKING, Any

import pandas as pd

from enrich.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

NEGATIVE_COLUMNS = ["query", "positive_id", "positive", "negative_id", "negative",
                    "positive_score", "negative_score", "negative_rank"]


class HardNegativeMiner:
    """Mine hard negatives with a sentence-transformers model.

    Args:
        model: the bi-encoder that scores candidates (usually the base model).
        num_negatives: negatives kept per (query, positive) pair.
        relative_margin: skip candidates scoring above ``positive * (1 - margin)``.
        range_max: how many nearest items to consider per query (default: derived).
        batch_size: encoding batch size.
        show_progress: progress bars and the statistics table of the mining run.

    Example:
        >>> miner = HardNegativeMiner(model, num_negatives=3)           # doctest: +SKIP
        >>> negatives, stats = miner.mine(pairs, corpus)                # doctest: +SKIP
    """

    def __init__(self, model: "SentenceTransformer", num_negatives: int = 3,
                 relative_margin: float = 0.05, range_max: int | None = None,
                 batch_size: int = 32, show_progress: bool = True):
        if num_negatives < 1:
            raise ConfigError("num_negatives must be at least 1", "pass --negatives 1 or more")
        self.model = model
        self.num_negatives = num_negatives
        self.relative_margin = relative_margin
        self.range_max = range_max
        self.batch_size = batch_size
        self.show_progress = show_progress

    def mine(self, pairs: pd.DataFrame, corpus: pd.DataFrame
             ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Negatives for every pair.

        Args:
            pairs: columns ``query``, ``item_id``, ``item_text`` (one row per positive pair).
            corpus: columns ``item_id``, ``text``: the candidates (positives are added to it).

        Returns:
            The negatives (columns :data:`NEGATIVE_COLUMNS`, one row per negative) and
            statistics: pairs without any negative, negatives dropped as positives.
        """
        from datasets import Dataset
        from sentence_transformers.util import mine_hard_negatives

        if pairs.empty:
            raise ConfigError("no (query, item) pairs to mine negatives for",
                              "check that the synthetic_queries view has kept rows")
        text_to_id = _text_to_id(pairs, corpus)
        candidates = list(dict.fromkeys([*corpus["text"].tolist(), *pairs["item_text"].tolist()]))
        dataset = Dataset.from_dict({"query": pairs["query"].tolist(),
                                     "positive": pairs["item_text"].tolist()})
        mined = mine_hard_negatives(
            dataset, self.model, anchor_column_name="query", positive_column_name="positive",
            corpus=candidates, num_negatives=self.num_negatives,
            relative_margin=self.relative_margin, range_max=self.range_max,
            sampling_strategy="top", output_format="triplet", output_scores=True,
            batch_size=self.batch_size, verbose=self.show_progress)
        frame = _to_frame(mined.to_pandas(), pairs, text_to_id)
        frame, dropped = _drop_positives(frame, pairs)
        covered = set(zip(frame["query"], frame["positive_id"], strict=True))
        missing = sum((q, i) not in covered for q, i in zip(pairs["query"], pairs["item_id"],
                                                            strict=True))
        stats = {"negatives": len(frame), "pairs_without_negative": int(missing),
                 "dropped_as_positive": int(dropped), "relative_margin": self.relative_margin,
                 "num_negatives": self.num_negatives}
        return frame[NEGATIVE_COLUMNS], stats


def _text_to_id(pairs: pd.DataFrame, corpus: pd.DataFrame) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item_id, text in zip(pairs["item_id"], pairs["item_text"], strict=True):
        mapping.setdefault(text, str(item_id))
    for item_id, text in zip(corpus["item_id"], corpus["text"], strict=True):
        mapping.setdefault(text, str(item_id))
    return mapping


def _to_frame(mined: pd.DataFrame, pairs: pd.DataFrame, text_to_id: dict[str, str]
              ) -> pd.DataFrame:
    pair_ids = {(q, t): str(i) for q, t, i in zip(pairs["query"], pairs["item_text"],
                                                  pairs["item_id"], strict=True)}
    frame = pd.DataFrame({
        "query": mined["query"],
        "positive": mined["positive"],
        "negative": mined["negative"],
        "positive_score": [float(s[0]) for s in mined["scores"]],
        "negative_score": [float(s[1]) for s in mined["scores"]],
    })
    frame["positive_id"] = [pair_ids.get((q, t), text_to_id.get(t, "")) for q, t in
                            zip(frame["query"], frame["positive"], strict=True)]
    frame["negative_id"] = [text_to_id[t] for t in frame["negative"]]
    frame["negative_rank"] = frame.groupby(["query", "positive_id"]).cumcount() + 1
    return frame


def _drop_positives(frame: pd.DataFrame, pairs: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Remove negatives that are a positive of the same query (by id or by identical text)."""
    positive_ids: dict[Any, set[str]] = {}
    positive_texts: dict[Any, set[Any]] = {}
    for query, item_id, item_text in zip(pairs["query"], pairs["item_id"], pairs["item_text"],
                                         strict=True):
        positive_ids.setdefault(query, set()).add(str(item_id))
        positive_texts.setdefault(query, set()).add(item_text)
    bad = [nid in positive_ids.get(q, set()) or text in positive_texts.get(q, set())
           for q, nid, text in zip(frame["query"], frame["negative_id"], frame["negative"],
                                   strict=True)]
    keep = [not b for b in bad]
    return frame[keep].reset_index(drop=True), sum(bad)
