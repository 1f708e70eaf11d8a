"""Generation suites: validity, failures, length, duplicates, diversity and consistency of the
text a prompt generates for the golden rows.

Per golden row the frame holds counts (texts, duplicate texts, novel n-grams, round-trip passes,
kept by the task's consistency filter); each rate is a ratio of sums, bootstrapped over rows.
The round trip indexes the golden rows with BM25 and checks that each generated text finds its
own row in the top k: the same test the synthetic-query consistency filter applies.

Example:
    >>> frame = generation_frame(golden, outputs, kept, suite)     # doctest: +SKIP
    >>> generation_metrics(frame, suite)["distinct_2"]             # doctest: +SKIP
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from enrich.evaluate import generation as g
from enrich.evaluate.bootstrap import Estimate, bootstrap, paired_difference
from enrich.evaluate.suites import Suite

GEN_STATS: dict[str, tuple[tuple[str, ...], Callable[..., float]]] = {
    "schema_valid_rate": (("valid", "validity_den"), g.ratio),
    "failure_rate": (("failed",), np.mean),
    "mean_words": (("word_sum", "n_texts"), g.ratio),
    "duplicate_rate": (("dups", "n_texts"), g.ratio),
    "distinct_1": (("novel_1", "total_1"), g.ratio),
    "distinct_2": (("novel_2", "total_2"), g.ratio),
    "pass_rate": (("kept", "n_kept"), g.ratio),
    "roundtrip": (("rt_pass", "rt_den"), g.ratio),
}
LOWER_IS_BETTER = frozenset({"failure_rate", "duplicate_rate"})


def _roundtrip(texts: list[list[str]], row_ids: list[str], golden: pd.DataFrame,
               suite: Suite) -> tuple[np.ndarray, np.ndarray]:
    columns = [c for c in suite.generation.roundtrip_columns if c in golden.columns]
    if not columns or not any(texts):
        return np.zeros(len(texts), dtype=int), np.zeros(len(texts), dtype=int)
    from enrich.evaluate.retrieval import bm25_retriever

    corpus = dict(zip(golden[suite.golden.id_column].astype(str),
                      golden[columns].fillna("").astype(str).agg(" ".join, axis=1),
                      strict=True))
    queries = {f"{i}\t{j}": t for i, row in enumerate(texts) for j, t in enumerate(row)}
    run = bm25_retriever(corpus, k=suite.generation.roundtrip_k)(queries)
    passes = np.zeros(len(texts), dtype=int)
    for qid, hits in run.items():
        i = int(qid.split("\t")[0])
        passes[i] += row_ids[i] in hits
    return passes, np.asarray([len(t) for t in texts], dtype=int)


def generation_frame(golden: pd.DataFrame, outputs: pd.DataFrame, kept: pd.DataFrame,
                     suite: Suite) -> pd.DataFrame:
    """Per golden row: validity, failure, generated texts and the counts behind each rate."""
    ids = golden[suite.golden.id_column].astype(str).tolist()
    by_id = outputs.set_index("row_id")
    texts, valid, invalid, failed = [], [], [], []
    for row_id in ids:
        row = by_id.loc[row_id] if row_id in by_id.index else None
        output = row["output"] if row is not None else None
        kind = row["error_kind"] if row is not None else None
        texts.append([t for t in g.texts_of(output, suite.generation.text_field) if t.strip()]
                     if output is not None else [])
        valid.append(int(output is not None))
        invalid.append(int(kind in g.INVALID_KINDS))
        failed.append(int(kind is not None and output is None))
    frame = pd.DataFrame({"row_id": ids, "texts": texts, "valid": valid, "failed": failed})
    frame["validity_den"] = frame["valid"] + np.asarray(invalid)
    frame["n_texts"] = [len(t) for t in texts]
    frame["word_sum"] = [sum(len(g.words(x)) for x in t) for t in texts]
    frame["dups"] = g.duplicate_flags(texts)[0]
    for n in (1, 2):
        frame[f"novel_{n}"], frame[f"total_{n}"] = g.novel_ngrams(texts, n)
    checked = {row_id: (int(k), int(n)) for row_id, k, n in
               zip(kept["row_id"], kept["kept"], kept["n"], strict=True)}
    frame["kept"] = [checked[i][0] if i in checked else 0 for i in ids]
    frame["n_kept"] = [checked[i][1] if i in checked else 0 for i in ids]
    frame["rt_pass"], frame["rt_den"] = _roundtrip(texts, ids, golden, suite)
    return frame


def generation_metrics(frame: pd.DataFrame, suite: Suite) -> dict[str, Estimate]:
    """Every metric of the suite with its bootstrap interval over golden rows."""
    boot = suite.bootstrap
    return {name: bootstrap(GEN_STATS[name][1], *(frame[c].to_numpy()
                                                  for c in GEN_STATS[name][0]),
                            resamples=boot.resamples, level=boot.level, seed=boot.seed)
            for name in suite.metric_names()}


def generation_differences(a: pd.DataFrame, b: pd.DataFrame, suite: Suite
                           ) -> dict[str, Estimate]:
    """B − A for every metric on the same golden rows (paired bootstrap)."""
    boot = suite.bootstrap
    return {name: paired_difference(GEN_STATS[name][1],
                                    [a[c].to_numpy() for c in GEN_STATS[name][0]],
                                    [b[c].to_numpy() for c in GEN_STATS[name][0]],
                                    resamples=boot.resamples, level=boot.level, seed=boot.seed)
            for name in suite.metric_names()}


def generation_tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per-row lengths and the generated texts (for the report and the dashboard)."""
    lengths = pd.DataFrame({"words": [len(g.words(t)) for ts in frame["texts"] for t in ts]})
    samples = pd.DataFrame({"row_id": frame["row_id"],
                            "texts": [" | ".join(t) for t in frame["texts"]]})
    return {"lengths": lengths, "samples": samples}
