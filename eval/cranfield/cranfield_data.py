"""The Cranfield collection (BEIR-style ``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``,
plain or gzip-compressed) for evaluation.

Where it is read from: ``--data DIR`` of the script, else ``$ENRICH_DATA/cranfield`` when that
folder exists, else the copy shipped in the repository (``data/cranfield/``; layouts in
``data/README.md``).

Relevance follows the collection's own readme: codes 1–4 are relevant with gain 5 − code
(1 = complete answer → 4), code −1 is not relevant and left out of the qrels.
"""

import csv
import gzip
import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "cranfield"


def cranfield_folder(option: Path | None = None) -> Path:
    """The Cranfield folder to read.

    Args:
        option: the script's ``--data`` value, if given.

    Returns:
        ``option``, else ``$ENRICH_DATA/cranfield`` if it exists, else ``data/cranfield/``.
    """
    if option is not None:
        return option.expanduser()
    from enrich.settings import EnrichSettings

    configured = EnrichSettings().data
    if configured is not None and (configured.expanduser() / "cranfield").is_dir():
        return configured.expanduser() / "cranfield"
    return SHIPPED


@contextmanager
def open_text(folder: Path, name: str) -> Iterator[TextIO]:
    """Open ``folder/name`` or ``folder/name.gz`` as UTF-8 text.

    Raises:
        SystemExit: neither exists (one line naming both, exit code 2).
    """
    plain, packed = folder / name, folder / f"{name}.gz"
    if plain.is_file():
        with plain.open(encoding="utf-8") as fh:
            yield fh
    elif packed.is_file():
        with gzip.open(packed, "rt", encoding="utf-8") as fh:
            yield fh
    else:
        print(f"error: no Cranfield {name} or {name}.gz in {folder} — pass --data DIR or set "
              "ENRICH_DATA (layout: data/README.md)", file=sys.stderr)
        raise SystemExit(2)


@dataclass
class Cranfield:
    """Documents, development queries and graded qrels.

    Attributes:
        docs: doc id → text (title + abstract, as in the file; the two empty documents are
            left out), in file order.
        titles: doc id → title.
        queries: query id → text (the 150 development queries).
        qrels: query id → {doc id: gain} with gain = 5 − code for codes 1–4.
    """

    docs: dict[str, str]
    titles: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @classmethod
    def load(cls, folder: Path | None = None) -> "Cranfield":
        """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv`` (each maybe ``.gz``).

        Args:
            folder: the collection's folder; default: :func:`cranfield_folder`.

        Returns:
            The collection.

        Example:
            >>> cran = Cranfield.load()                   # doctest: +SKIP
            >>> len(cran.docs), len(cran.queries)         # doctest: +SKIP
            (1398, 150)
        """
        folder = cranfield_folder(folder)
        docs, titles = {}, {}
        with open_text(folder, "corpus.jsonl") as fh:
            for line in fh:
                row = json.loads(line)
                if row["text"].strip():
                    docs[row["_id"]], titles[row["_id"]] = row["text"], row["title"]
        qrels: dict[str, dict[str, int]] = {}
        with open_text(folder, "qrels.tsv") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                code = int(row["cranqrel_code"])
                if 1 <= code <= 4:
                    qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = 5 - code
        queries = {}
        with open_text(folder, "queries.jsonl") as fh:
            for line in fh:
                row = json.loads(line)
                if row["_id"] in qrels:
                    queries[row["_id"]] = row["text"].strip()
        return cls(docs, titles, queries, qrels)

    def write_job_source(self, path: Path, seed: int = 13, skip: set[str] | None = None) -> int:
        """Write the documents in a seeded random order as the generation job's source.

        The job runs with ``--limit N``, so the first N documents of this order are the subset
        that gets synthetic queries; a larger N reuses every cached row of a smaller one.

        Returns:
            The number of documents written.
        """
        order = list(self.docs)
        random.Random(seed).shuffle(order)
        order = [doc_id for doc_id in order if doc_id not in (skip or set())]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for doc_id in order:
                row = {"doc_id": doc_id, "title": self.titles[doc_id], "text": self.docs[doc_id]}
                fh.write(json.dumps(row) + "\n")
        return len(order)
