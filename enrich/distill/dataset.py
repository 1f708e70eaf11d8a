"""Read a distillation data folder (written by :class:`DistillDataBuilder`) as training sets.

Each method returns a Hugging Face :class:`datasets.Dataset` whose columns are in the order the
sentence-transformers losses expect (anchor first, then documents, then the label).
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from enrich.errors import ConfigError

if TYPE_CHECKING:
    from datasets import Dataset


class DistillDataset:
    """A distillation data folder.

    Args:
        folder: the ``--out`` folder of ``enrich distill data``.

    Example:
        >>> data = DistillDataset(Path("distill/data"))                  # doctest: +SKIP
        >>> data.triplets("train", num_negatives=1).column_names         # doctest: +SKIP
        ['anchor', 'positive', 'negative_1']
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        manifest = self.folder / "manifest.json"
        if not manifest.is_file():
            raise ConfigError(f"no distillation data in {self.folder} (manifest.json missing)",
                              "build it first: enrich distill data --db STORE --out FOLDER")
        self.manifest: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))

    def frame(self, name: str, split: str | None = None) -> pd.DataFrame:
        """One file as a DataFrame (empty when the builder wrote none), optionally one split."""
        path = self.folder / f"{name}.parquet"
        if not path.is_file():
            return pd.DataFrame()
        frame = pd.read_parquet(path)
        if split is not None and "split" in frame:
            frame = frame[frame["split"] == split].reset_index(drop=True)
        return frame

    def corpus(self) -> dict[str, str]:
        """Item id → text of every item the data mentions."""
        frame = self.frame("corpus")
        return dict(zip(frame["item_id"].astype(str), frame["text"], strict=True)) \
            if not frame.empty else {}

    def triplets(self, split: str, num_negatives: int = 1) -> "Dataset":
        """(anchor, positive, negative_1..n) rows for MultipleNegativesRankingLoss.

        Pairs with fewer than ``num_negatives`` mined negatives are left out; with
        ``num_negatives=0`` every positive pair is returned as (anchor, positive).
        """
        from datasets import Dataset

        pairs = self.frame("pairs", split)
        if num_negatives == 0 or pairs.empty:
            return Dataset.from_dict({"anchor": pairs.get("query", pd.Series()).tolist(),
                                      "positive": pairs.get("item_text", pd.Series()).tolist()})
        negatives = self.frame("negatives", split)
        negatives = negatives[negatives["negative_rank"] <= num_negatives]
        wide = negatives.pivot_table(index=["query", "positive_id", "positive"],
                                     columns="negative_rank", values="negative", aggfunc="first")
        wide = wide.dropna().reset_index()
        data = {"anchor": wide["query"].tolist(), "positive": wide["positive"].tolist()}
        for rank in range(1, num_negatives + 1):
            data[f"negative_{rank}"] = wide[rank].tolist() if rank in wide else []
        return Dataset.from_dict(data)

    def teacher_triplets(self, split: str, num_negatives: int = 1) -> "Dataset":
        """(query, positive, negative, label = teacher margin) rows for MarginMSELoss.

        The margin is the teacher's ``score(positive) − score(negative)`` on the base model's
        cosine scale (``enrich distill data --teacher``); the first ``num_negatives`` mined
        negatives of each pair are used (0: all of them).

        Raises:
            ConfigError: the data was built without ``--teacher``.
        """
        from datasets import Dataset

        frame = self._graded(split, num_negatives)
        return Dataset.from_dict({"query": frame["query"].tolist(),
                                  "positive": frame["positive"].tolist(),
                                  "negative": frame["negative"].tolist(),
                                  "label": frame["teacher_margin"].astype(float).tolist()})

    def teacher_pairs(self, split: str, num_negatives: int = 3) -> "Dataset":
        """(query, document, label) rows whose label is the teacher's score, standardised
        over the split (mean 0, spread 1): graded targets for a cross-encoder (MSE).

        Raises:
            ConfigError: the data was built without ``--teacher``.
        """
        from datasets import Dataset

        frame = self._graded(split, num_negatives)
        positives = frame.drop_duplicates(["query", "positive_id"])
        queries = positives["query"].tolist() + frame["query"].tolist()
        docs = positives["positive"].tolist() + frame["negative"].tolist()
        raw = np.asarray(positives["teacher_positive"].tolist()
                         + frame["teacher_negative"].tolist(), dtype=np.float64)
        spread = float(raw.std()) or 1.0
        labels = ((raw - raw.mean()) / spread).tolist() if len(raw) else []
        return Dataset.from_dict({"query": queries, "document": docs, "label": labels})

    def has_teacher(self) -> bool:
        """Whether the negatives carry teacher scores (``enrich distill data --teacher``)."""
        return "teacher_margin" in self.frame("negatives").columns

    def _graded(self, split: str, num_negatives: int) -> pd.DataFrame:
        frame = self.frame("negatives", split)
        if "teacher_margin" not in frame.columns:
            raise ConfigError(f"{self.folder}: the triples carry no teacher scores",
                              "rebuild the data with a teacher: enrich distill data ... "
                              "--teacher rrf")
        if num_negatives:
            frame = frame[frame["negative_rank"] <= num_negatives]
        return frame.reset_index(drop=True)

    def margins(self) -> "Dataset":
        """(query, doc_a, doc_b, label = teacher margin) rows for MarginMSELoss."""
        from datasets import Dataset

        frame = self.frame("margins")
        return Dataset.from_dict({"query": frame.get("query", pd.Series()).tolist(),
                                  "doc_a": frame.get("text_a", pd.Series()).tolist(),
                                  "doc_b": frame.get("text_b", pd.Series()).tolist(),
                                  "label": frame.get("margin", pd.Series()).astype(float).tolist()})

    def user_pairs(self, split: str) -> "Dataset":
        """(user summary, liked item text) rows for user→item retrieval."""
        from datasets import Dataset

        frame = self.frame("user_pairs", split)
        return Dataset.from_dict({"anchor": frame.get("summary", pd.Series()).tolist(),
                                  "positive": frame.get("item_text", pd.Series()).tolist()})

    def labeled_pairs(self, split: str, num_negatives: int = 3) -> "Dataset":
        """(query, document, label in [0, 1]) rows for a cross-encoder.

        Positives of synthetic queries get 1, their first ``num_negatives`` mined negatives 0,
        and teacher rows their relevance 1 − P(bad).
        """
        from datasets import Dataset

        rows: list[tuple[str, str, float]] = []
        pairs = self.frame("pairs", split)
        if not pairs.empty:
            rows += [(q, t, 1.0) for q, t in zip(pairs["query"], pairs["item_text"], strict=True)]
        negatives = self.frame("negatives", split)
        if not negatives.empty:
            negatives = negatives[negatives["negative_rank"] <= num_negatives]
            rows += [(q, t, 0.0) for q, t in zip(negatives["query"], negatives["negative"],
                                                 strict=True)]
        teacher = self.frame("teacher", split)
        if not teacher.empty:
            rows += [(q, t, float(r)) for q, t, r in zip(teacher["query"], teacher["item_text"],
                                                         teacher["relevance"], strict=True)]
        return Dataset.from_dict({"query": [r[0] for r in rows], "document": [r[1] for r in rows],
                                  "label": [r[2] for r in rows]})

    def retrieval_eval(self, split: str = "dev") -> tuple[dict[str, str], dict[str, str],
                                                           dict[str, set[str]]]:
        """Queries, corpus and relevant items of a split (for InformationRetrievalEvaluator).

        The corpus is every item that has a synthetic query or was mined as a negative (not
        the extra ``--corpus`` items), so evaluating before and after training stays cheap.
        """
        pairs = self.frame("pairs", split)
        queries: dict[str, str] = {}
        relevant: dict[str, set[str]] = {}
        for query, item_id in zip(pairs.get("query", []), pairs.get("item_id", []), strict=True):
            qid = queries.setdefault(query, f"q{len(queries)}")
            relevant.setdefault(qid, set()).add(str(item_id))
        wanted = set(self.frame("pairs").get("item_id", pd.Series()).astype(str))
        wanted |= set(self.frame("negatives").get("negative_id", pd.Series()).astype(str))
        corpus = {i: t for i, t in self.corpus().items() if i in wanted}
        return {v: k for k, v in queries.items()}, corpus, relevant

    def rerank_samples(self, split: str = "dev") -> list[dict[str, Any]]:
        """Samples for CrossEncoderRerankingEvaluator: query, positives, mined negatives.

        Teacher queries add a sample each: items with relevance ≥ 0.5 as positives, the rest as
        negatives (queries without both kinds are skipped).
        """
        samples: list[dict[str, Any]] = []
        pairs, negatives = self.frame("pairs", split), self.frame("negatives", split)
        if not pairs.empty and not negatives.empty:
            mined = negatives.groupby("query")["negative"].agg(list).to_dict()
            for query, group in pairs.groupby("query", sort=True):
                if mined.get(query):
                    samples.append({"query": query, "positive": group["item_text"].tolist(),
                                    "negative": list(dict.fromkeys(mined[query]))})
        teacher = self.frame("teacher", split)
        for query, group in (teacher.groupby("query", sort=True) if not teacher.empty else []):
            good = group[group["relevance"] >= 0.5]["item_text"].tolist()
            bad = group[group["relevance"] < 0.5]["item_text"].tolist()
            if good and bad:
                samples.append({"query": query, "positive": good, "negative": bad})
        return samples
