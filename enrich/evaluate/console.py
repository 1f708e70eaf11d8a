"""Terminal tables for evaluation results and prompt comparisons (rich).

Example:
    >>> print_result(result, Console())        # doctest: +SKIP
"""

from rich.console import Console
from rich.table import Table

from enrich.evaluate.bootstrap import format_estimate
from enrich.evaluate.compare import Comparison
from enrich.evaluate.results import SuiteResult


def _provenance_line(result: SuiteResult) -> str:
    p = result.provenance
    if result.kind == "retrieval":
        return (f"retriever {result.system} ({p.get('model')}) · {p.get('queries')} queries · "
                f"{p.get('documents')} documents")
    return (f"prompt {result.system} · model {p.get('model')} ({p.get('backend')}) · "
            f"run {p.get('run_id')} · {p.get('golden_rows')} golden rows")


def print_result(result: SuiteResult, console: Console) -> None:
    """Metrics with their intervals, threshold checks and notes."""
    level = int(round(100 * next(iter(result.metrics.values())).level)) if result.metrics else 95
    table = Table(title=f"{result.suite} · {result.system}", title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column(f"value [{level}% CI]", justify="right")
    table.add_column("n", justify="right")
    table.add_column("threshold")
    checks = {c.metric: c for c in result.checks}
    for name, est in result.metrics.items():
        check = checks.get(name)
        mark = "" if check is None else (
            f"[green]✓ {check.bound}" if check.passed else f"[red]✗ {check.bound}")
        table.add_row(name, format_estimate(est), str(est.n), mark)
    console.print(table)
    console.print(_provenance_line(result))
    for note in result.notes:
        console.print(f"[dim]{note}")
    if result.provenance.get("license"):
        console.print(f"[dim]golden data: {result.provenance['license']}")


def print_comparison(cmp: Comparison, console: Console, max_rows: int = 20) -> None:
    """A and B side by side, B − A with its paired interval and a verdict, then changed rows."""
    level = int(round(100 * next(iter(cmp.differences.values())).level)) \
        if cmp.differences else 95
    table = Table(title=f"{cmp.suite}: A = {cmp.a.system}  vs  B = {cmp.b.system}",
                  title_justify="left")
    for column in ("metric", "A", "B", f"B − A [{level}% CI]", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict")
                         else "right")
    for name, diff in cmp.differences.items():
        verdict = cmp.verdict(name)
        style = {"better": "[green]", "worse": "[red]"}.get(verdict, "[dim]")
        table.add_row(name, format_estimate(cmp.a.metrics[name]),
                      format_estimate(cmp.b.metrics[name]), format_estimate(diff),
                      f"{style}{verdict}")
    if cmp.prompt_diff:
        from rich.syntax import Syntax

        console.print(Syntax(cmp.prompt_diff, "diff", word_wrap=True))
    console.print(table)
    console.print(f"model {cmp.b.provenance.get('model')} · runs A {cmp.a.provenance.get('run_id')}"
                  f" · B {cmp.b.provenance.get('run_id')}")
    n = len(cmp.changed)
    console.print(f"[bold]{n} row(s) changed output[/]" + (" (first shown)" if n > max_rows
                                                           else ""))
    if n:
        changed = Table(*[str(c) for c in cmp.changed.columns])
        for _, row in cmp.changed.head(max_rows).iterrows():
            changed.add_row(*[str(v)[:60] for v in row.to_list()])
        console.print(changed)
