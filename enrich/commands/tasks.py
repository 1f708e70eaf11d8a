"""``enrich tasks``: the task kinds (list, show) and what their runs produced (summary).

Example::

    enrich tasks list
    enrich tasks show bad_match
    enrich tasks summary --db demo-tasks.duckdb
    enrich tasks render jobs/homedepot_query_parses.yaml --row 3
"""

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(rich_markup_mode=None,
                  help="Task kinds (item metadata, synthetic queries, EmbSum, bad match, query "
                       "understanding): list, show, render, summarise runs.",
                  no_args_is_help=True)

JobsDir = Annotated[Path, typer.Option("--jobs", help="Folder of example job files")]


def _example_jobs(folder: Path) -> dict[str, list[str]]:
    """Job files by the task they declare (read as plain YAML, not validated)."""
    from enrich.errors import ConfigError
    from enrich.yaml_files import load_yaml_file

    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            data = load_yaml_file(path, "job file")
        except ConfigError:
            continue
        if isinstance(data, dict) and isinstance(data.get("task"), str):
            found.setdefault(data["task"], []).append(str(path))
    return found


@app.command("list")
def list_tasks(jobs: JobsDir = Path("jobs")) -> None:
    """Every task kind with its view, what it does and its example jobs."""
    from rich.console import Console

    from enrich.tasks import all_tasks

    examples = _example_jobs(jobs)
    console = Console()
    for name, task in sorted(all_tasks().items()):
        view = f" → view [cyan]{task.view.name}[/]" if task.view else ""
        console.print(f"[bold]{name}[/]{view}")
        console.print(f"  {task.description}", markup=False)
        for path in examples.get(name, []):
            console.print(f"  enrich run {path}", markup=False)


def _option_rows(model: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    from pydantic import BaseModel

    rows = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        nested = next((a for a in getattr(annotation, "__args__", (annotation,))
                       if isinstance(a, type) and issubclass(a, BaseModel)), None)
        default = "" if info.is_required() else repr(info.get_default(call_default_factory=True))
        if nested is not None:
            default = "" if info.is_required() or default == "None" else "(see below)"
            rows.append((prefix + name, default, info.description or ""))
            rows.extend(_option_rows(nested, prefix + name + "."))
        else:
            rows.append((prefix + name, default, info.description or ""))
    return rows


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Task name, e.g. bad_match")],
         jobs: JobsDir = Path("jobs")) -> None:
    """A task's description, its ``task_options`` with defaults, its view and example jobs."""
    import inspect

    from rich.console import Console
    from rich.table import Table

    from enrich.errors import ConfigError
    from enrich.tasks import all_tasks

    tasks = all_tasks()
    if name not in tasks:
        raise ConfigError(f"unknown task `{name}`", f"known tasks: {', '.join(sorted(tasks))}")
    task = tasks[name]
    console = Console()
    console.print(f"[bold]{task.name}[/] — {task.description}")
    view = task.view.name if task.view else "-"
    console.print(f"view: {view} · default prompt: {task.default_prompt or '-'}")
    doc = (inspect.getdoc(inspect.getmodule(task)) or "").split("\n\nExample")[0]
    for paragraph in doc.split("\n\n"):  # reflow the docstring's paragraphs to the terminal
        console.print(" ".join(paragraph.split()) + "\n", markup=False, highlight=False)
    table = Table("task_options", "default", "description", title="options")
    for row in _option_rows(task.Options):
        table.add_row(*row)
    console.print(table)
    for path in _example_jobs(jobs).get(name, []):
        console.print(f"example: enrich run {path}")


@app.command("summary")
def summary(
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB file [env: ENRICH_DB]")] = None,
    task: Annotated[list[str] | None, typer.Option(help="Only these tasks")] = None,
    examples: Annotated[int, typer.Option(min=0, help="Example rows per run")] = 3,
) -> None:
    """For the latest run of each task job: provenance, statistics and example rows."""
    from rich.console import Console
    from rich.table import Table

    from enrich.settings import EnrichSettings
    from enrich.store import Store
    from enrich.tasks.report import summarize_runs

    console = Console()
    with Store(db or EnrichSettings().db, read_only=True) as store:
        reports = summarize_runs(store, task, examples)
    if not reports:
        console.print("no task runs in this store yet: run a job from jobs/ first")
    for report in reports:
        run = report.run
        rows = run["ok"] + run["cached"]
        per_row = f"{run['wall_s'] / max(1, run['ok']):.1f} s/row" if run["wall_s"] else "-"
        console.rule(f"[bold]{report.task}[/] → view {report.view} · {run['job_name']}")
        console.print(f"run {run['run_id']} ({run['status']}) · {run['backend']}:{run['model']} "
                      f"· prompt {run['prompt_version']} · rows {rows}/{run['rows_total']} ok, "
                      f"{run['failed']} failed {dict(run['failures_by_kind']) or ''} · "
                      f"{run['wall_s'] or 0:.0f} s ({per_row})")
        for key, value in report.stats.items():
            console.print(f"  {key}: {value}")
        if report.examples:
            table = Table(*report.columns, show_lines=True)
            for row in report.examples:
                table.add_row(*("" if v is None else str(v) for v in row))
            console.print(table)


@app.command("render")
def render(job: Annotated[Path, typer.Argument(help="Job file, e.g. jobs/homedepot_match_labels"
                                                    ".yaml")],
           row: Annotated[int, typer.Option(min=0, help="Which source row (0 = first)")] = 0
           ) -> None:
    """Render a job's prompt for one source row through its task (RAG context included)."""
    from rich.console import Console

    from enrich.errors import ConfigError
    from enrich.jobs import load_job
    from enrich.plan import RunPlan

    plan = RunPlan.build(load_job(job))
    plan.task.prepare(plan, None)  # type: ignore[arg-type]  # tasks read no store in prepare
    rows = next(plan.source.batches(row + 1), [])
    if len(rows) <= row:
        raise ConfigError(f"{job}: the source has only {len(rows)} row(s)", "pick a lower --row")
    row_id = str(rows[row][plan.job.source.id_column])
    console = Console()
    for message in plan.render(row_id, rows[row], strict=True):
        console.rule(f"[bold]{message['role']}[/]")
        console.print(message["content"], markup=False, highlight=False)
