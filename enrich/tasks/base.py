"""What a task kind adds to a plain prompt run.

A task turns a source row into template variables (e.g. retrieved catalogue context for RAG),
derives fields from a validated output and the raw result (e.g. P(bad) from token
log-probabilities), and may run a step over the whole run once it is stored (e.g. the
consistency filter of synthetic queries). Each task also owns a typed DuckDB view that
downstream steps (distillation, evaluation) read.
"""

from typing import TYPE_CHECKING, Any, ClassVar

from enrich.backends.base import LLMResult
from enrich.prompts import template_variables

if TYPE_CHECKING:
    from rich.console import Console

    from enrich.plan import RunPlan
    from enrich.store import Store


class Task:
    """The default task: columns in, validated output stored as it is.

    Subclasses set the class attributes and override the hooks they need.
    """

    name: ClassVar[str] = "generic"
    description: ClassVar[str] = "any prompt and schema; output stored as validated"
    default_prompt: ClassVar[str | None] = None
    view: ClassVar[str | None] = None

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = options or {}

    def prepare(self, plan: "RunPlan", store: "Store") -> None:
        """Called once before the first row (build indexes, load side data)."""

    def variables(self, row: dict[str, Any]) -> dict[str, Any]:
        """Template variables for one row."""
        return template_variables(row, self.options)

    def postprocess(self, output: dict[str, Any], result: LLMResult) -> dict[str, Any]:
        """Derived fields added to a validated output before it is stored."""
        return output

    def finalize(self, store: "Store", run_id: str, console: "Console | None") -> None:
        """Called once after every row of the run is stored (filters, scores)."""
