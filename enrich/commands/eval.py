"""``enrich eval``: run evaluation suites against golden sets and compare prompt versions."""

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(rich_markup_mode=None,
                  help="Evaluate prompts against human-labelled golden sets; A/B prompt "
                       "versions; write reports.", no_args_is_help=True)

DbOption = Annotated[Path | None, typer.Option("--db", help="DuckDB file [env: ENRICH_DB; "
                                                            "default: enrich.duckdb]")]
ReportOption = Annotated[Path | None, typer.Option(
    "--report", "-r", help="Also write a static report: .html or .md")]
ResultsOption = Annotated[Path | None, typer.Option(
    "--results", help="Folder for result JSON the dashboard reads [default: eval/results]")]
BackendOption = Annotated[str | None, typer.Option(help="llamacpp | openai | vllm")]
ModelOption = Annotated[str | None, typer.Option(help="Model name or .gguf path")]
BaseUrlOption = Annotated[str | None, typer.Option(help="OpenAI-compatible server URL")]
LimitOption = Annotated[int | None, typer.Option(min=1, help="Only the first N golden rows")]
ResamplesOption = Annotated[int | None, typer.Option(min=0, help="Bootstrap resamples")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")]


def _overrides(backend: str | None, model: str | None, base_url: str | None
               ) -> dict[str, Any]:
    return {"backend.kind": backend, "backend.model": model, "backend.base_url": base_url}


def _suite(name: str, resamples: int | None, limit: int | None = None) -> Any:
    from enrich.evaluate.suites import load_suite

    suite = load_suite(name)
    if resamples is not None:
        suite = suite.model_copy(update={"bootstrap": suite.bootstrap.model_copy(
            update={"resamples": resamples})})
    if limit is not None and suite.job is not None:
        suite = suite.model_copy(update={"job": suite.job.model_copy(update={"limit": limit})})
    return suite


def _results_dir(suite: Any, results: Path | None) -> Path:
    """``--results``, else ``eval/results`` of the suite's project (of the current project
    for a built-in suite: never inside the installed package)."""
    from enrich._builtin import builtin_folder
    from enrich.jobs import find_project_root

    if results:
        return results
    project = find_project_root(Path.cwd())
    builtin = builtin_folder("eval/suites", project / "eval" / "suites")
    is_builtin = builtin is not None and suite.path is not None and \
        Path(suite.path).resolve().parent == builtin
    return (project if is_builtin else suite.root) / "eval" / "results"


@app.command("run")
def run(
    suite: Annotated[str, typer.Argument(help="Suite file or name in eval/suites/, e.g. "
                                              "bad_match_homedepot")],
    db: DbOption = None,
    report: ReportOption = None,
    prompt: Annotated[str | None, typer.Option(help="PROMPT@VERSION instead of the suite's")
                      ] = None,
    model_dir: Annotated[list[str] | None, typer.Option(
        "--retriever-model", help="Retrieval suites: a local bi-encoder folder to add "
                                  "(repeatable), e.g. a distilled model")] = None,
    backend: BackendOption = None, model: ModelOption = None, base_url: BaseUrlOption = None,
    limit: LimitOption = None, resamples: ResamplesOption = None,
    results: ResultsOption = None, quiet: QuietOption = False,
) -> None:
    """Run a suite: its prompt over the golden rows (cached), then metrics with bootstrap CIs.

    Exits with code 1 when a threshold of the suite fails.
    """
    from rich.console import Console

    from enrich.evaluate.console import print_result
    from enrich.settings import EnrichSettings

    loaded = _suite(suite, resamples, limit)
    console, err = Console(), Console(stderr=True)
    if loaded.kind == "retrieval":
        from enrich.evaluate.retrieval_suite import evaluate_retrieval

        found = evaluate_retrieval(loaded, model_dir,
                                   progress=None if quiet else lambda m: err.print(f"[dim]{m}"))
    else:
        from enrich.evaluate.evaluation import evaluate_suite
        from enrich.evaluate.execute import PromptRef

        ref = PromptRef.parse(prompt) if prompt else None
        found = [evaluate_suite(loaded, db or EnrichSettings().db, ref,
                                overrides=_overrides(backend, model, base_url),
                                console=None if quiet else err).result]
    for result in found:
        print_result(result, console)
        saved = result.save(_results_dir(loaded, results))
        err.print(f"[dim]saved {saved}")
    if report:
        from enrich.evaluate.report import write_report

        write_report(report, found)
        console.print(f"report written to {report}")
    if not all(r.passed for r in found):
        raise typer.Exit(1)


@app.command("compare")
def compare(
    version_a: Annotated[str, typer.Argument(help="PROMPT@VERSION (A, e.g. the old one)")],
    version_b: Annotated[str, typer.Argument(help="PROMPT or PROMPT@VERSION (B)")],
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite file or name")],
    db: DbOption = None, report: ReportOption = None,
    backend: BackendOption = None, model: ModelOption = None, base_url: BaseUrlOption = None,
    limit: LimitOption = None, resamples: ResamplesOption = None,
    quiet: QuietOption = False,
) -> None:
    """A/B two prompt versions on the same golden rows (unchanged rows cost nothing).

    Shows metrics side by side, B − A with a paired bootstrap CI, and the rows whose output
    changed.

    Versions are hashes (or unique prefixes) from `enrich prompts diff NAME`, or `current` /
    `previous`.
    """
    from rich.console import Console

    from enrich.evaluate.compare import compare_versions
    from enrich.evaluate.console import print_comparison
    from enrich.evaluate.execute import PromptRef
    from enrich.settings import EnrichSettings

    loaded = _suite(suite, resamples, limit)
    err = Console(stderr=True)
    comparison = compare_versions(loaded, PromptRef.parse(version_a), PromptRef.parse(version_b),
                                  db or EnrichSettings().db,
                                  overrides=_overrides(backend, model, base_url),
                                  console=None if quiet else err)
    print_comparison(comparison, Console())
    if report:
        from enrich.evaluate.report import write_comparison_report

        write_comparison_report(report, comparison)
        Console().print(f"report written to {report}")


@app.command("list")
def list_suites() -> None:
    """The suites of this project (eval/suites/) and the built-in ones, with their source,
    kind, prompt and golden set."""
    from rich.console import Console
    from rich.table import Column, Table

    from enrich._builtin import BUILTIN, PROJECT, builtin_folder
    from enrich.evaluate.suites import list_suites as find
    from enrich.evaluate.suites import load_suite
    from enrich.jobs import find_project_root

    root = find_project_root(Path.cwd())
    own = find(root)
    builtin = builtin_folder("eval/suites", root / "eval" / "suites")
    shipped = [p for p in find(builtin.parent.parent) if p.stem not in {o.stem for o in own}
               ] if builtin else []
    table = Table(Column("suite", no_wrap=True), Column("source", no_wrap=True), "kind",
                  "prompt", "golden", "metrics")
    for path, source in [*((p, PROJECT) for p in own), *((p, BUILTIN) for p in shipped)]:
        s = load_suite(path)
        table.add_row(s.name, source, s.kind, s.job.prompt if s.job else "-", s.golden.path,
                      ", ".join(s.metric_names()))
    Console().print(table)
    if not own:
        typer.echo(f"no project suites in {root / 'eval' / 'suites'}: the list shows the "
                   "built-in ones; run one with `enrich eval run NAME`", err=True)
