"""Training data for distillation, built from the task views of a store.

Writes one folder (Parquet files readable with ``datasets.load_dataset("parquet", ...)`` or
:class:`enrich.distill.DistillDataset`) and a ``manifest.json`` naming the runs, prompt versions
and models every row came from:

============================ ==================================================================
``pairs.parquet``            (synthetic query, item) positives from kept ``synthetic_queries``
``negatives.parquet``        hard negatives per pair, mined with the base model and a margin;
                             with ``teacher``, the teacher's scores of both and their margin
``teacher.parquet``          ``match_labels``: label, P(bad), relevance = 1 − P(bad)
``margins.parquet``          teacher margins rel(a) − rel(b) per query (for MarginMSE)
``user_pairs.parquet``       (user summary, liked item) from ``user_summaries`` (+ ratings)
``corpus.parquet``           every item text seen (candidates and retrieval corpus)
============================ ==================================================================

Every file has a ``split`` column (``train`` / ``dev``): pairs split by item, teacher rows by
query, user pairs by user, with a stable hash so rebuilding gives the same split.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from enrich.distill.views import ViewReader, parse_id_list, read_table_file
from enrich.errors import ConfigError

LABEL_RELEVANCE = {"good": 1.0, "partial": 0.5, "bad": 0.0}


class DistillDataConfig(BaseModel):
    """Options of ``enrich distill data``.

    Example:
        >>> DistillDataConfig(db=Path("enrich.duckdb"), out=Path("distill/data")).num_negatives
        3
    """

    model_config = ConfigDict(extra="forbid")

    db: Path = Field(description="DuckDB store with the task views")
    out: Path = Field(description="output folder")
    runs: list[str] | None = Field(default=None, description="only these run ids")
    base_model: str | None = Field(default=None, description="miner; default all-MiniLM-L6-v2")
    corpus: Path | None = Field(default=None, description="extra candidate items (item_id, text)")
    ratings: Path | None = Field(default=None, description="user_id, item_id, rating file")
    min_rating: float = Field(default=4.0, description="a rating at least this is a like")
    num_negatives: int = Field(default=3, ge=1, le=50)
    relative_margin: float = Field(default=0.05, ge=0, lt=1)
    range_max: int | None = Field(default=None, ge=1)
    dev_fraction: float = Field(default=0.1, ge=0, lt=1)
    max_margins_per_query: int = Field(default=10, ge=1)
    teacher: str | None = Field(default=None, description="grade every (query, positive, "
                                "negative) triple: bm25, biencoder, ql, ql-pmi, rrf, zsum, "
                                "rrf:A,B, zsum:A,B (enrich.distill.teachers)")
    teacher_model: str = Field(default="smollm2-135m", description="LLM of ql / ql-pmi")
    teacher_template: str = Field(default="passage", description="passage | product | "
                                  "a prefix with {item}")
    teacher_threads: int | None = Field(default=None, ge=1, description="LLM threads")
    vector_cache: Path | None = Field(default=None, description="keep the teacher's corpus "
                                      "vectors here (enrich.retrieval.vectors)")
    seed: int = 0
    show_progress: bool = True


def in_dev(key: Any, fraction: float, seed: int = 0) -> bool:
    """Stable split: whether ``key`` falls in the dev fraction (same answer on every machine).

    Example:
        >>> in_dev("item-1", 0.0)
        False
    """
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


class DistillDataBuilder:
    """Build the distillation data folder from a store.

    Args:
        config: what to read and how to mine.

    Example:
        >>> config = DistillDataConfig(db=Path("enrich.duckdb"), out=Path("data"))  # doctest: +SKIP
        >>> manifest = DistillDataBuilder(config).build()                          # doctest: +SKIP
        >>> manifest["counts"]["pairs"]                                            # doctest: +SKIP
        {'train': 812, 'dev': 93}
    """

    def __init__(self, config: DistillDataConfig):
        self.config = config

    def build(self) -> dict[str, Any]:
        """Read the views, mine negatives, write the files and the manifest.

        Returns:
            The manifest (also written to ``out/manifest.json``).

        Raises:
            ConfigError: the store has none of the views, or no usable rows.
        """
        cfg = self.config
        if cfg.teacher:
            from enrich.distill.teachers import parse_teacher

            parse_teacher(cfg.teacher)  # a misspelt teacher fails before the mining
        with ViewReader(cfg.db, cfg.runs) as views:
            frames, run_ids = self._read(views)
            provenance = {name: views.run_info(ids) for name, ids in run_ids.items()}
        if all(f.empty for f in frames.values()):
            raise ConfigError(f"{cfg.db}: no rows in synthetic_queries (kept), match_labels or "
                              "user_summaries", "run a synthetic_queries, bad-match or EmbSum "
                              "job first (or check --runs)")
        corpus = self._corpus(frames)
        mining_stats: dict[str, Any] = {}
        negatives = pd.DataFrame()
        if not frames["pairs"].empty:
            negatives, mining_stats = self._mine(frames["pairs"], corpus)
            if cfg.teacher:
                negatives, mining_stats["teacher"] = self._grade(negatives, corpus)
        frames |= {"negatives": negatives, "corpus": corpus,
                   "margins": teacher_margins(frames["teacher"], cfg.max_margins_per_query)}
        return self._write(frames, provenance, mining_stats)

    def _read(self, views: ViewReader) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]]]:
        cfg = self.config
        synthetic = views.read("synthetic_queries", "kept")
        labels = views.read("match_labels")
        summaries = views.read("user_summaries")
        items = views.read("item_metadata")
        pairs = positive_pairs(synthetic, cfg.dev_fraction, cfg.seed)
        teacher = teacher_scores(labels, cfg.dev_fraction, cfg.seed)
        ratings = read_table_file(cfg.ratings, ("user_id", "item_id", "rating")) \
            if cfg.ratings else None
        extra = read_table_file(cfg.corpus, ("item_id", "text")) if cfg.corpus else None
        texts = item_texts(synthetic, labels, items,
                           extra.rename(columns={"text": "item_text"}) if extra is not None
                           else None)
        users = user_pairs(summaries, texts, ratings, cfg.min_rating, cfg.dev_fraction, cfg.seed)
        run_ids = {name: sorted({str(r) for r in frame["run_id"].unique()})
                   for name, frame in (("synthetic_queries", synthetic), ("match_labels", labels),
                                       ("user_summaries", summaries), ("item_metadata", items))
                   if frame is not None and not frame.empty}
        return {"pairs": pairs, "teacher": teacher, "user_pairs": users}, run_ids

    def _corpus(self, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        parts = [frames["pairs"][["item_id", "item_text"]],
                 frames["teacher"][["item_id", "item_text"]],
                 frames["user_pairs"][["item_id", "item_text"]]]
        corpus = pd.concat(parts).rename(columns={"item_text": "text"})
        if self.config.corpus:
            extra = read_table_file(self.config.corpus, ("item_id", "text"))
            corpus = pd.concat([corpus, extra[["item_id", "text"]]])
        corpus["item_id"] = corpus["item_id"].astype(str)
        corpus = corpus[corpus["text"].fillna("").str.strip() != ""]
        return corpus.drop_duplicates("item_id").reset_index(drop=True)

    def _mine(self, pairs: pd.DataFrame, corpus: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
        from sentence_transformers import SentenceTransformer

        from enrich.distill.base_model import resolve_model, set_offline
        from enrich.distill.mining import HardNegativeMiner

        set_offline()
        cfg = self.config
        model = SentenceTransformer(resolve_model(cfg.base_model), device="cpu")
        miner = HardNegativeMiner(model, cfg.num_negatives, cfg.relative_margin, cfg.range_max,
                                  show_progress=cfg.show_progress)
        negatives, stats = miner.mine(pairs, corpus)
        split = dict(zip(pairs["item_id"], pairs["split"], strict=True))
        negatives["split"] = [split.get(i, "train") for i in negatives["positive_id"]]
        return negatives, stats | {"base_model": cfg.base_model or "all-MiniLM-L6-v2"}

    def _grade(self, negatives: pd.DataFrame, corpus: pd.DataFrame
               ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The teacher's scores of every triple (see :mod:`enrich.distill.teacher_scores`)."""
        from enrich.distill.llm_teacher import LLMTeacher
        from enrich.distill.teacher_scores import add_teacher_scores
        from enrich.distill.teachers import build_teacher, parse_teacher

        cfg = self.config
        _, parts = parse_teacher(cfg.teacher or "")
        llm = None
        if any(p.startswith("ql") for p in parts):
            llm = LLMTeacher(cfg.teacher_model, template=cfg.teacher_template,
                             n_threads=cfg.teacher_threads, show_progress=cfg.show_progress,
                             cache=cfg.out / "llm_teacher_cache.parquet")
        texts = dict(zip(corpus["item_id"].astype(str), corpus["text"], strict=True))
        teacher = build_teacher(cfg.teacher or "", texts, base_model=cfg.base_model, llm=llm,
                                show_progress=cfg.show_progress, cache_dir=cfg.vector_cache)
        graded, facts = add_teacher_scores(negatives, teacher)
        if llm is not None:
            facts["llm"] = {"model": llm.model_name, "template": llm.template}
        return graded, facts

    def _write(self, frames: dict[str, pd.DataFrame], provenance: dict[str, Any],
               mining: dict[str, Any]) -> dict[str, Any]:
        out = self.config.out
        out.mkdir(parents=True, exist_ok=True)
        counts: dict[str, Any] = {}
        for name, frame in frames.items():
            frame.to_parquet(out / f"{name}.parquet", index=False)
            counts[name] = (frame["split"].value_counts().to_dict() if "split" in frame
                            else {"total": len(frame)})
            counts[name] = {k: int(v) for k, v in counts[name].items()}
        manifest = {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "db": str(self.config.db.resolve()),
            "config": self.config.model_dump(mode="json", exclude={"db", "out"}),
            "sources": provenance,
            "counts": counts,
            "mining": mining,
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return manifest


def positive_pairs(synthetic: pd.DataFrame | None, dev_fraction: float, seed: int
                   ) -> pd.DataFrame:
    """(query, item) positives from kept synthetic queries, split by item.

    Returns:
        Columns ``query, item_id, item_text, run_id, split`` with one row per distinct pair.
    """
    columns = ["query", "item_id", "item_text", "run_id", "split"]
    if synthetic is None or synthetic.empty:
        return pd.DataFrame(columns=columns)
    frame = synthetic[["query", "item_id", "item_text", "run_id"]].copy()
    frame["item_id"] = frame["item_id"].astype(str)
    frame["query"] = frame["query"].astype(str).str.strip()
    frame = frame[(frame["query"] != "") & (frame["item_text"].fillna("").str.strip() != "")]
    frame = frame.drop_duplicates(["query", "item_id"]).reset_index(drop=True)
    frame["split"] = ["dev" if in_dev(i, dev_fraction, seed) else "train"
                      for i in frame["item_id"]]
    return frame[columns]


def teacher_scores(labels: pd.DataFrame | None, dev_fraction: float, seed: int) -> pd.DataFrame:
    """Cross-encoder targets from ``match_labels``: relevance = 1 − P(bad), split by query.

    When ``p_bad`` is missing the label decides (good 1, partial 0.5, bad 0).

    Returns:
        Columns ``query, item_id, item_text, label, p_bad, relevance, run_id, split``.
    """
    columns = ["query", "item_id", "item_text", "label", "p_bad", "relevance", "run_id", "split"]
    if labels is None or labels.empty:
        return pd.DataFrame(columns=columns)
    frame = labels[["query", "item_id", "item_text", "label", "p_bad", "run_id"]].copy()
    frame["item_id"] = frame["item_id"].astype(str)
    from_label = frame["label"].map(LABEL_RELEVANCE)
    frame["relevance"] = (1.0 - frame["p_bad"].astype(float)).fillna(from_label)
    frame = frame.dropna(subset=["relevance", "query", "item_text"])
    frame["relevance"] = frame["relevance"].clip(0.0, 1.0)
    frame = frame.drop_duplicates(["query", "item_id"], keep="last").reset_index(drop=True)
    frame["split"] = ["dev" if in_dev(q, dev_fraction, seed) else "train" for q in frame["query"]]
    return frame[columns]


def teacher_margins(teacher: pd.DataFrame, per_query: int, min_margin: float = 0.1
                    ) -> pd.DataFrame:
    """Pairs of items of one query with the teacher's margin rel(a) − rel(b) (train split).

    Returns:
        Columns ``query, item_a, text_a, item_b, text_b, margin, split``; at most ``per_query``
        rows per query, largest margins first, each at least ``min_margin``.
    """
    columns = ["query", "item_a", "text_a", "item_b", "text_b", "margin", "split"]
    rows: list[tuple[Any, ...]] = []
    for query, group in teacher[teacher["split"] == "train"].groupby("query", sort=True):
        ranked = group.sort_values("relevance", ascending=False).to_dict("records")
        found = [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1:]
                 if a["relevance"] - b["relevance"] >= min_margin]
        found.sort(key=lambda ab: ab[0]["relevance"] - ab[1]["relevance"], reverse=True)
        rows += [(query, a["item_id"], a["item_text"], b["item_id"], b["item_text"],
                  float(a["relevance"] - b["relevance"]), "train") for a, b in found[:per_query]]
    return pd.DataFrame(rows, columns=columns)


def item_texts(*frames: pd.DataFrame | None) -> dict[str, str]:
    """Item id → text from any view that carries item text (``item_text`` or title + summary)."""
    texts: dict[str, str] = {}
    for frame in frames:
        if frame is None or frame.empty:
            continue
        if "item_text" in frame:
            pairs = zip(frame["item_id"], frame["item_text"], strict=True)
        else:
            joined = frame["clean_title"].fillna("") + ". " + frame["summary"].fillna("")
            pairs = zip(frame["item_id"], joined.str.strip(". "), strict=True)
        for item_id, text in pairs:
            if isinstance(text, str) and text.strip():
                texts.setdefault(str(item_id), text)
    return texts


def user_pairs(summaries: pd.DataFrame | None, texts: dict[str, str],
               ratings: pd.DataFrame | None, min_rating: float, dev_fraction: float, seed: int
               ) -> pd.DataFrame:
    """(user summary, liked item) pairs for user→item retrieval, split by user.

    Liked items come from the summary's ``liked_items`` ids (else its ``liked`` list) and, when
    given, from ratings at least ``min_rating``; items without a known text are skipped.

    Returns:
        Columns ``summary, user_id, item_id, item_text, source, run_id, split``.
    """
    columns = ["summary", "user_id", "item_id", "item_text", "source", "run_id", "split"]
    if summaries is None or summaries.empty:
        return pd.DataFrame(columns=columns)
    liked_by_rating: dict[str, list[str]] = {}
    if ratings is not None:
        good = ratings[ratings["rating"].astype(float) >= min_rating]
        for user, item in zip(good["user_id"].astype(str), good["item_id"].astype(str),
                              strict=True):
            liked_by_rating.setdefault(user, []).append(item)
    rows = []
    for row in summaries.to_dict("records"):
        user = str(row["user_id"])
        split = "dev" if in_dev(user, dev_fraction, seed) else "train"
        sources: dict[str, str] = {}
        liked = row.get("liked_items")  # ids (the task's view); `liked` may hold aspects
        for item_id in parse_id_list(liked if liked is not None and len(liked) else
                                     row.get("liked")):
            sources.setdefault(item_id, "liked")
        for item_id in liked_by_rating.get(user, []):
            sources.setdefault(item_id, "rating")
        for item_id, source in sources.items():
            if item_id in texts and str(row["summary"] or "").strip():
                rows.append((row["summary"], user, item_id, texts[item_id], source,
                             row["run_id"], split))
    return pd.DataFrame(rows, columns=columns).drop_duplicates(["user_id", "item_id"])
