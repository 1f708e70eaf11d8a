"""What a task kind adds to a plain prompt run.

A task turns a source row into template variables (e.g. retrieved catalogue context for RAG),
derives fields from a validated output and the raw result (e.g. P(bad) from token
log-probabilities), and may run a step over the whole run once it is stored (e.g. the
consistency filter of synthetic queries). Each task also owns a typed DuckDB view that
downstream steps (distillation, evaluation) read: a :class:`~enrich.tasks.view.TaskView` on its
class, which the store creates.

A task's ``task_options`` (in the job file) are validated by its :attr:`Task.Options` model,
so a misspelt option is an error naming the option, before the first request is sent.

Example:
    >>> from enrich.tasks import get_task
    >>> task = get_task("bad_match", {"item_text_columns": ["product_title"]})
    >>> task.variables({"id": 1, "query": "drill", "item_id": 7, "product_title": "Drill"}
    ...                )["item_text"]
    'Drill'
"""

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from enrich.backends.base import LLMResult
from enrich.errors import ConfigError
from enrich.prompts import template_variables
from enrich.tasks.view import TaskView

if TYPE_CHECKING:
    from rich.console import Console

    from enrich.jobs import JobSpec
    from enrich.store import Store


class TaskPlan(Protocol):
    """What a task reads of the run plan in :meth:`Task.prepare`.

    :class:`enrich.plan.RunPlan` is one; tasks never import ``enrich.plan`` (which imports
    them), so the dependency goes one way: the plan uses tasks.
    """

    @property
    def job(self) -> "JobSpec":
        """The job being run."""


class TaskOptions(BaseModel):
    """Options of the generic task: anything goes (templates see them as ``options``)."""

    model_config = ConfigDict(extra="allow")


class StrictTaskOptions(BaseModel):
    """Base of the options of a specific task: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class RowMemo:
    """Remembers a little about each row between rendering and post-processing.

    ``postprocess`` sees the backend result (with its row id) but not the source row, so tasks
    that need the row again (the query whose span offsets they compute, the item text a query
    was generated from) keep what they need here. Bounded: the runner never has more rows
    rendered but unanswered than its batch plus its in-flight slots, far below ``capacity``.

    Example:
        >>> memo = RowMemo(capacity=2)
        >>> memo.put("1", {"query": "drill"}); memo.get("1")
        {'query': 'drill'}
    """

    def __init__(self, capacity: int = 50_000):
        self.capacity = capacity
        self._items: OrderedDict[str, Any] = OrderedDict()

    def put(self, row_id: str, value: Any) -> None:
        self._items[row_id] = value
        self._items.move_to_end(row_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, row_id: str) -> Any:
        """The value stored for ``row_id`` (None when unknown or evicted)."""
        return self._items.get(row_id)


class Task:
    """The default task: columns in, validated output stored as it is.

    Subclasses set the class attributes and override the hooks they need.
    """

    name: ClassVar[str] = "generic"
    description: ClassVar[str] = "any prompt and schema; output stored as validated"
    default_prompt: ClassVar[str | None] = None
    view: ClassVar[TaskView | None] = None
    Options: ClassVar[type[BaseModel]] = TaskOptions

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = options or {}
        try:
            self.config = self.Options.model_validate(self.options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(options)"
            msg = "unknown option" if first["type"] == "extra_forbidden" else first["msg"]
            raise ConfigError(f"task `{self.name}`: task_options.{where}: {msg}",
                              f"fix `task_options` in the job file (see `enrich tasks show "
                              f"{self.name}`)") from exc
        self.id_column = "id"
        self.memo = RowMemo()

    def prepare(self, plan: TaskPlan, store: "Store") -> None:
        """Called once before the first row (build indexes, load side data)."""
        self.id_column = plan.job.source.id_column

    def template_options(self) -> dict[str, Any]:
        """What templates see as ``options``: the validated options with their defaults."""
        return self.config.model_dump(mode="json")

    def variables(self, row: dict[str, Any]) -> dict[str, Any]:
        """Template variables for one row."""
        return template_variables(row, self.template_options())

    def renders_from_row_alone(self) -> bool:
        """True when ``variables`` depends on nothing but the row and the options (no side
        data such as a RAG catalogue): an unchanged rerun of a finished run then reuses its
        rows without reading and rendering the source again."""
        return True

    def row_id(self, row: dict[str, Any]) -> str:
        """The id of a source row (as the runner names it)."""
        return str(row.get(self.id_column, ""))

    def postprocess(self, output: dict[str, Any], result: LLMResult) -> dict[str, Any]:
        """Derived fields added to a validated output before it is stored (never raises)."""
        return output

    def finalize(self, store: "Store", run_id: str, console: "Console | None",
                 backend: Any = None) -> None:
        """Called once after every row of the run is stored (filters, scores).

        ``backend`` is the run's started backend when one was used (None on a replay): tasks
        that need a backend capability (continuation scoring) reuse it."""
