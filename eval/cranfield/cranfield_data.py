"""The Cranfield collection (BEIR-style files in /work/shared/data/cranfield) for evaluation.

Relevance follows the collection's own readme: codes 1–4 are relevant with gain 5 − code
(1 = complete answer → 4), code −1 is not relevant and left out of the qrels.
"""

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA = Path("/work/shared/data/cranfield")


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
    def load(cls, folder: Path = DEFAULT_DATA) -> "Cranfield":
        """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv`` from ``folder``.

        Example:
            >>> cran = Cranfield.load()                   # doctest: +SKIP
            >>> len(cran.docs), len(cran.queries)         # doctest: +SKIP
            (1398, 150)
        """
        docs, titles = {}, {}
        with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row["text"].strip():
                    docs[row["_id"]], titles[row["_id"]] = row["text"], row["title"]
        qrels: dict[str, dict[str, int]] = {}
        with (folder / "qrels.tsv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                code = int(row["cranqrel_code"])
                if 1 <= code <= 4:
                    qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = 5 - code
        queries = {}
        with (folder / "queries.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row["_id"] in qrels:
                    queries[row["_id"]] = row["text"].strip()
        return cls(docs, titles, queries, qrels)

    def write_job_source(self, path: Path, seed: int = 13) -> int:
        """Write the documents in a seeded random order as the generation job's source.

        The job runs with ``--limit N``, so the first N documents of this order are the subset
        that gets synthetic queries; a larger N reuses every cached row of a smaller one.

        Returns:
            The number of documents written.
        """
        order = list(self.docs)
        random.Random(seed).shuffle(order)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for doc_id in order:
                row = {"doc_id": doc_id, "title": self.titles[doc_id], "text": self.docs[doc_id]}
                fh.write(json.dumps(row) + "\n")
        return len(order)
