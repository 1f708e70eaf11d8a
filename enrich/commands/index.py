"""``enrich index build`` and ``enrich search``: an item index, searched and reranked.

Nothing heavy is imported at module level (torch, sentence-transformers and usearch load inside
the commands).
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(rich_markup_mode=None,
                  help="Item indexes for retrieval (bi-encoder vectors; exact or usearch ANN).",
                  no_args_is_help=True)


@app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Index folder to write")],
    items: Annotated[Path | None, typer.Option(help="Items file: CSV, JSONL or Parquet")] = None,
    db: Annotated[Path | None, typer.Option(
        "--db", help="Store whose item_metadata view gives the items (title + summary)")] = None,
    id_column: Annotated[str, typer.Option(help="Id column of --items")] = "item_id",
    text_column: Annotated[list[str] | None, typer.Option(
        help="Text column(s) of --items, joined with '. ' (repeatable) [default: text]")] = None,
    model: Annotated[str | None, typer.Option(
        help="Bi-encoder folder [default: all-MiniLM-L6-v2]")] = None,
    reranker: Annotated[str | None, typer.Option(
        help="Cross-encoder folder recorded as the index's default for --rerank")] = None,
    ann: Annotated[bool | None, typer.Option(
        "--ann/--exact", help="Force usearch HNSW or exact search [default: by size]")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Encoding batch size")] = 64,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Encode items with a bi-encoder and write an index folder."""
    from enrich.retrieval.encoder import model_name
    from enrich.retrieval.index import ItemIndex
    from enrich.retrieval.items import items_from_file, items_from_store

    if (items is None) == (db is None):
        from enrich.errors import ConfigError

        raise ConfigError("pass exactly one of --items FILE or --db STORE",
                          "e.g. enrich index build --items items.csv --out index/")
    _warn_if_worse(model, reranker)
    ids, texts, metadata = (items_from_file(items, id_column, text_column or ["text"])
                            if items is not None else items_from_store(db))  # type: ignore[arg-type]
    index = ItemIndex.build(ids, texts, model=model, metadata=metadata, batch_size=batch_size,
                            show_progress=not quiet, ann=ann)
    index.save(out)
    if reranker:
        info = json.loads((out / "index.json").read_text(encoding="utf-8"))
        info["reranker"] = model_name(reranker)
        (out / "index.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    typer.echo(f"indexed {len(index):,} items ({index.kind}, model {index.model}) in {out}")


def search(
    query: Annotated[str, typer.Argument(help="The query text")],
    index: Annotated[Path, typer.Option("--index", "-i", help="Index folder")] = Path("index"),
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Results to show")] = 10,
    rerank: Annotated[bool, typer.Option("--rerank", help="Rerank with a cross-encoder")
                      ] = False,
    reranker: Annotated[str | None, typer.Option(
        help="Cross-encoder folder [default: the one recorded in the index]")] = None,
    bm25: Annotated[bool, typer.Option("--bm25", help="BM25 candidates instead of vectors")
                    ] = False,
    candidates: Annotated[int, typer.Option(min=1, help="Candidates to rerank")] = 100,
    blend: Annotated[str | None, typer.Option(
        help="Rank by BLEND × cross-encoder + (1 − BLEND) × first stage (0–1), or `auto`: the "
             "weight the reranker's gain gate found best on its dev split")] = None,
    int8: Annotated[bool, typer.Option(
        "--int8", help="Run the cross-encoder's linear layers in int8 (faster on CPU)")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Rerank batches on N threads side by side (1 torch thread each)")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines output")] = False,
) -> None:
    """Search an index: `enrich search "cordless drill" --index index/ --rerank`."""
    from enrich.retrieval.pipeline import Pipeline

    model = _reranker_for(index, reranker) if rerank else None
    if model is not None:
        _warn_if_worse(None, model)
    pipeline = Pipeline.from_folder(index, first_stage="bm25" if bm25 else "dense",
                                    reranker=model, candidates=candidates, threads=threads,
                                    int8=int8, blend=_blend_value(blend), workers=workers)
    hits = pipeline.search(query, k=k)
    if as_json:
        for hit in hits:
            typer.echo(json.dumps(hit.to_dict(), default=str))
        return
    _print_hits(hits, reranked=model is not None)


def _warn_if_worse(*models: str | None) -> None:
    """Print the gain gate's warning for each model whose card says it is worse than its
    base (on stderr; serving goes on)."""
    from enrich.distill.gate import serving_warning

    for model in models:
        message = serving_warning(model)
        if message:
            typer.echo(message, err=True)


def _blend_value(blend: str | None) -> float | str | None:
    """``--blend``: None, ``auto``, or a weight in [0, 1]."""
    from enrich.errors import ConfigError

    if blend is None or blend == "auto":
        return blend
    try:
        value = float(blend)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"--blend {blend}: expected a weight between 0 and 1, or auto",
                          "e.g. --blend 0.5 (half cross-encoder, half first stage)")
    return value


def _reranker_for(index: Path, reranker: str | None) -> str:
    from enrich.errors import ConfigError

    if reranker:
        return reranker
    info_path = index / "index.json"
    info: dict[str, Any] = json.loads(info_path.read_text(encoding="utf-8")) \
        if info_path.is_file() else {}
    if not info.get("reranker"):
        raise ConfigError(f"--rerank needs a cross-encoder and the index {index} records none",
                          "pass --reranker MODEL_DIR (from `enrich distill crossencoder`)")
    return str(info["reranker"])


def _print_hits(hits: list, reranked: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("rank", "item", "score", *(["first stage"] if reranked else []), "text")
    for hit in hits:
        extra = [f"{hit.metadata.get('retrieval_score', 0):.3f} "
                 f"(#{hit.metadata.get('retrieval_rank', '?')})"] if reranked else []
        text = hit.text if len(hit.text) <= 100 else hit.text[:99] + "…"
        table.add_row(str(hit.rank), hit.item_id, f"{hit.score:.3f}", *extra, text)
    Console().print(table)
