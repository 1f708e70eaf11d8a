"""A vector index over items: embeddings from a bi-encoder, exact or ANN (usearch) search.

Small corpora (below ``exact_below`` items, 20,000 by default) are searched exactly with one
matrix product (BLAS capped to one thread, see :mod:`enrich.retrieval.threads`); larger ones go
through a usearch HNSW graph (cosine). A saved index is a folder::

    index.json        model, dimension, count, kind (exact | usearch), build time
    items.parquet     item_id, text, metadata (JSON)
    embeddings.npy    float32, L2-normalised
    ann.usearch       the HNSW graph (usearch only)
    bm25/             a bm25s index over the same texts (optional)
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from enrich.errors import ConfigError
from enrich.retrieval.threads import blas_threads

INDEX_FORMAT = 1


class ItemIndex:
    """Item embeddings with their ids, texts and metadata, searchable by vector.

    Args:
        ids: item ids.
        texts: the indexed text of each item.
        embeddings: ``(n, dim)`` float32 L2-normalised vectors.
        model: the bi-encoder folder (or ``all-MiniLM-L6-v2``) that made the vectors.
        metadata: one dict per item (shown with results).
        ann: build a usearch HNSW graph (default: when there are ``exact_below`` items or more).
        exact_below: corpus size under which search is exact.

    Example:
        >>> index = ItemIndex.build(["a", "b"], ["red shoe", "blue hat"], model=None)
        ... # doctest: +SKIP
        >>> index.save(Path("index"))                              # doctest: +SKIP
        >>> ItemIndex.load(Path("index")).search(vectors, k=1)     # doctest: +SKIP
    """

    def __init__(self, ids: Sequence[str], texts: Sequence[str], embeddings: np.ndarray,
                 model: str | None, metadata: Sequence[dict[str, Any]] | None = None,
                 ann: bool | None = None, exact_below: int = 20_000):
        if len(ids) != len(texts) or len(ids) != len(embeddings):
            raise ValueError("ids, texts and embeddings must have the same length")
        self.ids = [str(i) for i in ids]
        self.texts = list(texts)
        self.metadata = list(metadata) if metadata is not None else [{} for _ in self.ids]
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.model = model
        self.kind = "usearch" if (ann if ann is not None else len(ids) >= exact_below) else "exact"
        self._ann: Any = self._build_ann() if self.kind == "usearch" else None
        self.built_at = datetime.now(UTC).isoformat(timespec="seconds")

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str], model: Any = None,
              metadata: Sequence[dict[str, Any]] | None = None, batch_size: int = 64,
              show_progress: bool = True, **kwargs: Any) -> "ItemIndex":
        """Encode ``texts`` with a bi-encoder and index them.

        Args:
            ids: item ids (unique).
            texts: item texts.
            model: a loaded ``SentenceTransformer``, a model folder, or None for MiniLM.
            metadata: one dict per item.
            batch_size: encoding batch size.
            show_progress: show an encoding progress bar.
            kwargs: ``ann`` / ``exact_below`` (see the class).

        Returns:
            The index.
        """
        from enrich.retrieval.encoder import load_bi_encoder

        if len(set(map(str, ids))) != len(ids):
            raise ConfigError("item ids are not unique", "deduplicate the items before indexing")
        if not len(ids):
            raise ConfigError("no items to index", "check the items file or the store")
        encoder, name = load_bi_encoder(model)
        vectors = encoder.encode_document(list(texts), batch_size=batch_size,
                                          normalize_embeddings=True, convert_to_numpy=True,
                                          show_progress_bar=show_progress)
        return cls(ids, texts, vectors, name, metadata, **kwargs)

    def search(self, vectors: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Nearest items of each query vector by cosine similarity.

        Args:
            vectors: ``(q, dim)`` or ``(dim,)`` L2-normalised query vectors.
            k: results per query (capped at the corpus size).

        Returns:
            ``(scores, positions)``, each ``(q, k)``, best first; positions index ``self.ids``.
        """
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        k = min(k, len(self.ids))
        if self._ann is not None:
            matches = self._ann.search(vectors, k, threads=1)
            keys = np.atleast_2d(matches.keys).astype(np.int64)
            return 1.0 - np.atleast_2d(matches.distances), keys
        with blas_threads(1):
            scores = vectors @ self.embeddings.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1)
        return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(top, order, 1)

    def save(self, folder: Path) -> Path:
        """Write the index to ``folder`` (created if missing)."""
        import pandas as pd

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "embeddings.npy", self.embeddings)
        pd.DataFrame({"item_id": self.ids, "text": self.texts,
                      "metadata": [json.dumps(m, default=str) for m in self.metadata]}
                     ).to_parquet(folder / "items.parquet", index=False)
        if self._ann is not None:
            self._ann.save(str(folder / "ann.usearch"))
        info = {"format": INDEX_FORMAT, "model": self.model, "kind": self.kind,
                "count": len(self.ids), "dim": int(self.embeddings.shape[1]),
                "metric": "cosine", "built_at": self.built_at}
        (folder / "index.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> "ItemIndex":
        """Read an index written by :meth:`save`.

        Raises:
            ConfigError: the folder holds no index.
        """
        import pandas as pd

        folder = Path(folder)
        if not (folder / "index.json").is_file():
            raise ConfigError(f"no index in {folder}", "build one: enrich index build --out "
                              f"{folder} ...")
        info = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        items = pd.read_parquet(folder / "items.parquet")
        index = cls.__new__(cls)
        index.ids = items["item_id"].astype(str).tolist()
        index.texts = items["text"].tolist()
        index.metadata = [json.loads(m) for m in items["metadata"]]
        index.embeddings = np.load(folder / "embeddings.npy")
        index.model, index.kind, index.built_at = info["model"], info["kind"], info["built_at"]
        index._ann = None
        if index.kind == "usearch":
            from usearch.index import Index

            index._ann = Index.restore(str(folder / "ann.usearch"))
        return index

    def _build_ann(self) -> Any:
        from usearch.index import Index

        graph = Index(ndim=int(self.embeddings.shape[1]), metric="cos", dtype="f32")
        graph.add(np.arange(len(self.ids), dtype=np.int64), self.embeddings)
        return graph
