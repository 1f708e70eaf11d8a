"""Latency of the serving path: query encode + search over 10k items, and reranking 100.

What is measured (p50 / p95 over ``--queries`` real queries, after warm-up):

- ``encode+search``: one query through :class:`enrich.retrieval.Retriever` (MiniLM encode, then
  exact search or usearch HNSW over 10,000 items), with thread pools capped (torch 1 thread,
  BLAS 1 thread: the default serving set-up) and, for comparison, with default pools;
- ``BM25``: one query through :class:`enrich.retrieval.BM25Retriever` over the same 10k texts;
- ``rerank 100``: :class:`enrich.retrieval.Reranker` scoring 100 candidates for one query, for
  short product titles and for long abstracts (the cost grows with tokens per pair), with the
  6-layer cross-encoder and its cheaper variants (first 2 or 3 layers only, int8 linear
  layers; see :mod:`enrich.retrieval.compact`).

Search cost does not depend on what the vectors mean, so the 10k item vectors are the
encoded titles when ``--encode-items`` is given and random unit vectors otherwise (encoding 10k
titles takes about a minute on 2 cores). Queries and titles are Home Depot search terms and
product titles when the file is given (``--homedepot FILE``, or
``$ENRICH_DATA/home-depot-search-relevance/dev.csv.gz``; layouts in ``data/README.md``), else
generated strings. Long documents are the Cranfield abstracts (``--cranfield DIR``, else
``$ENRICH_DATA/cranfield``, else the copy in ``data/cranfield/``).

Usage::

    .venv/bin/python bench/bench_retrieval.py [--reranker eval/cranfield/workdir/models/ce]
"""

import argparse
import gzip
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SHIPPED_CRANFIELD = Path(__file__).resolve().parent.parent / "data" / "cranfield"


def data_files(homedepot: Path | None, cranfield: Path | None) -> tuple[Path | None, Path]:
    """(Home Depot ``dev.csv.gz`` or None, Cranfield corpus file) from options and ENRICH_DATA.

    Args:
        homedepot: ``--homedepot``; default ``$ENRICH_DATA/home-depot-search-relevance/
            dev.csv.gz`` when it exists.
        cranfield: ``--cranfield`` folder; default ``$ENRICH_DATA/cranfield`` when it exists,
            else ``data/cranfield/``.

    Returns:
        The two paths (the corpus may be ``corpus.jsonl`` or ``corpus.jsonl.gz``).
    """
    from enrich.settings import EnrichSettings

    root = EnrichSettings().data
    root = root.expanduser() if root is not None else None
    if homedepot is None and root is not None:
        candidate = root / "home-depot-search-relevance" / "dev.csv.gz"
        homedepot = candidate if candidate.is_file() else None
    if cranfield is None:
        cranfield = root / "cranfield" if root is not None and (root / "cranfield").is_dir() \
            else SHIPPED_CRANFIELD
    plain = cranfield / "corpus.jsonl"
    return homedepot, plain if plain.is_file() else cranfield / "corpus.jsonl.gz"


def load_texts(n_items: int, n_queries: int, homedepot: Path | None = None,
               cranfield: Path | None = None) -> tuple[list[str], list[str], list[str]]:
    """(item titles, queries, long documents) for the benchmark (see :func:`data_files`)."""
    rng = random.Random(0)
    home_depot, corpus = data_files(homedepot, cranfield)
    if home_depot is not None and home_depot.is_file():
        import csv

        with gzip.open(home_depot, "rt", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        titles = list(dict.fromkeys(r["product_title"] for r in rows))
        queries = list(dict.fromkeys(r["search_term"] for r in rows))
    else:
        words = [f"word{i}" for i in range(5000)]
        titles = [" ".join(rng.choices(words, k=12)) for _ in range(n_items)]
        queries = [" ".join(rng.choices(words, k=3)) for _ in range(n_queries)]
    docs = []
    if corpus.is_file():
        import json

        opener = gzip.open if corpus.suffix == ".gz" else open
        with opener(corpus, "rt", encoding="utf-8") as fh:
            docs = [json.loads(line)["text"] for line in fh]
        docs = [d for d in docs if d.strip()]
    docs = docs or [" ".join([t] * 10) for t in titles[:200]]
    rng.shuffle(titles)
    rng.shuffle(queries)
    return (titles * (n_items // len(titles) + 1))[:n_items], queries[:n_queries], docs


def timed(fn: Callable[[str], object], queries: list[str], warmup: int = 5) -> tuple[float, float]:
    """p50 and p95 latency of ``fn(query)`` in milliseconds."""
    for q in queries[:warmup]:
        fn(q)
    samples = []
    for q in queries:
        started = time.perf_counter()
        fn(q)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def bench_search(args: argparse.Namespace, titles: list[str], queries: list[str]) -> list[tuple]:
    import torch

    from enrich.retrieval import BM25Retriever, ItemIndex, Retriever
    from enrich.retrieval.encoder import load_bi_encoder

    encoder, name = load_bi_encoder(args.model)
    if args.encode_items:
        vectors = encoder.encode_document(titles, batch_size=64, normalize_embeddings=True,
                                          show_progress_bar=True)
    else:
        vectors = np.random.default_rng(0).standard_normal((len(titles), 384)).astype("f4")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    default_threads = torch.get_num_threads()
    for kind in ("exact", "usearch"):
        index = ItemIndex(list(map(str, range(len(titles)))), titles, vectors, name,
                          ann=kind == "usearch")
        capped = Retriever(index, encoder, threads=1)
        rows.append((f"encode+search {kind}, torch 1 thread, BLAS 1",
                     *timed(lambda q, r=capped: r.search(q, k=10), queries)))
    exact = ItemIndex(list(map(str, range(len(titles)))), titles, vectors, name, ann=False)
    int8 = Retriever(exact, encoder, threads=1, int8=True)
    rows.append(("encode+search exact, int8 query encoder, torch 1 thread, BLAS 1",
                 *timed(lambda q, r=int8: r.search(q, k=10), queries)))
    torch.set_num_threads(default_threads)
    index = ItemIndex(list(map(str, range(len(titles)))), titles, vectors, name, ann=False)
    uncapped = Retriever(index, encoder, threads=None)

    def uncapped_search(q: str) -> None:
        scores = uncapped.encode([q]) @ index.embeddings.T  # BLAS at its default threads
        np.argpartition(-scores, 10, axis=1)

    rows.append((f"encode+search exact, default pools (torch {default_threads})",
                 *timed(uncapped_search, queries)))
    rows.append(("encode only, torch 1 thread",
                 *timed(lambda q: capped.encode([q]), queries)))
    bm25 = BM25Retriever(list(map(str, range(len(titles)))), titles)
    rows.append(("BM25 (bm25s) search", *timed(lambda q: bm25.search(q, k=100), queries)))
    return rows


def bench_rerank(args: argparse.Namespace, titles: list[str], queries: list[str],
                 docs: list[str]) -> list[tuple]:
    """Rerank 100 candidates: the 6-layer cross-encoder at 1 and 2 threads, then the cheaper
    variants (fewer layers, int8) at 2 threads; abstracts only for the largest and smallest."""
    from enrich.retrieval import Reranker
    from enrich.retrieval.compact import keep_layers, layer_count
    from enrich.retrieval.encoder import load_cross_encoder

    def model(layers: int | None) -> object:
        loaded = load_cross_encoder(args.reranker, args.max_length)[0]
        return keep_layers(loaded, layers) if layers else loaded

    full = layer_count(model(None))
    both = ("titles", "abstracts")
    variants = [(None, False, 1, both), (None, False, 2, both), (None, True, 2, ("titles",))]
    if args.reranker is None:  # smaller untrained heads cost what distilled ones of that size do
        variants += [(3, True, 2, ("titles",)), (2, False, 2, ("titles",)),
                     (2, True, 2, both)]
    rows = []
    for layers, int8, threads, pools in variants:
        reranker = Reranker(model(layers), batch_size=args.batch_size, threads=threads,
                            int8=int8)
        for label in pools:
            pool = titles if label == "titles" else docs
            rng = random.Random(1)
            candidates = {q: rng.sample(pool, 100) for q in queries[: args.rerank_queries]}
            name = (f"rerank 100 {label}, {layers or full} layers "
                    f"{'int8' if int8 else 'fp32'}, torch {threads} thread(s)")
            rows.append((name, *timed(lambda q, r=reranker, c=candidates: r.score(q, c[q]),
                                      list(candidates), warmup=2)))
    side = Reranker(model(2), batch_size=args.batch_size, int8=True, workers=2)
    rng = random.Random(1)
    candidates = {q: rng.sample(titles, 100) for q in queries[: args.rerank_queries]}
    rows.append(("rerank 100 titles, 2 layers int8, 2 batches side by side (workers=2)",
                 *timed(lambda q, c=candidates: side.score(q, c[q]), list(candidates),
                        warmup=2)))
    return rows


def int8_query_quality(cranfield: Path | None) -> list[tuple[str, float]]:
    """nDCG@10 on the 150 Cranfield dev queries of MiniLM with fp32 and int8 query encoders
    (item vectors fp32 in both): the quality cost of ``Retriever(int8=True)``."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval" / "cranfield"))
    from cranfield_data import Cranfield

    from enrich.evaluate.retrieval import metric_estimate
    from enrich.retrieval import ItemIndex, Retriever
    from enrich.retrieval.encoder import load_bi_encoder

    cran = Cranfield.load(cranfield)
    encoder, name = load_bi_encoder(None)
    vectors = encoder.encode_document(list(cran.docs.values()), batch_size=32,
                                      normalize_embeddings=True, convert_to_numpy=True)
    index = ItemIndex(list(cran.docs), list(cran.docs.values()), vectors, name, ann=False)
    rows = []
    for label, int8 in (("fp32 query encoder", False), ("int8 query encoder", True)):
        hits = Retriever(index, encoder, threads=1, int8=int8).search_many(
            list(cran.queries.values()), k=100)
        run = {q: {h.item_id: h.score for h in found}
               for q, found in zip(cran.queries, hits, strict=True)}
        rows.append((label, metric_estimate(cran.qrels, run, "ndcg@10", resamples=0).value))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Retrieval latency benchmark")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rerank-queries", type=int, default=20)
    parser.add_argument("--model", default=None, help="bi-encoder folder (default MiniLM)")
    parser.add_argument("--reranker", default=None,
                        help="cross-encoder folder (default MiniLM with an untrained head: "
                             "same cost as a distilled one)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16, help="reranker pairs per batch")
    parser.add_argument("--rerank-only", action="store_true", help="skip the search rows")
    parser.add_argument("--encode-items", action="store_true")
    parser.add_argument("--int8-quality", action="store_true",
                        help="only: Cranfield nDCG@10 with fp32 vs int8 query encoders")
    parser.add_argument("--homedepot", type=Path, default=None,
                        help="Home Depot dev.csv.gz [default: $ENRICH_DATA/"
                             "home-depot-search-relevance/dev.csv.gz if present]")
    parser.add_argument("--cranfield", type=Path, default=None,
                        help="Cranfield folder [default: $ENRICH_DATA/cranfield if present, "
                             "else data/cranfield]")
    args = parser.parse_args()
    if args.int8_quality:
        for label, value in int8_query_quality(data_files(None, args.cranfield)[1].parent):
            print(f"| MiniLM, {label} | Cranfield nDCG@10 {value:.3f} |")
        return
    titles, queries, docs = load_texts(args.items, args.queries, args.homedepot, args.cranfield)
    rows = ([] if args.rerank_only else bench_search(args, titles, queries)) \
        + bench_rerank(args, titles, queries, docs)
    print(f"\n{args.items:,} items, {len(queries)} queries, "
          f"{'encoded' if args.encode_items else 'random'} item vectors\n")
    print("| what | p50 ms | p95 ms |\n| --- | --- | --- |")
    for name, p50, p95 in rows:
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
