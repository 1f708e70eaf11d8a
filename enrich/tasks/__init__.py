"""Task kinds: what each enrichment job does beyond rendering a prompt (see ``base.py``).

The registry is explicit: :data:`TASKS` names every task and where its class lives. A module
is imported only when its task is asked for (``get_task``) or when every task is listed
(``all_tasks``, ``task_views``); task modules import heavy optional packages (BM25, encoders)
inside the functions that need them, so importing a task is cheap.

| task | view | what |
| --- | --- | --- |
| ``item_metadata`` | ``item_metadata`` | clean title, summary, attributes, keywords |
| ``synthetic_queries`` | ``synthetic_queries`` | doc2query / InPars queries + consistency filter |
| ``user_summaries`` | ``user_summaries`` | EmbSum user-interest summaries from histories |
| ``bad_match`` | ``match_labels`` | good / partial / bad labels with P(bad) from logprobs |
| ``query_understanding`` | ``query_parses`` | typed spans, intent, spelling, rewrites (+ RAG) |

Adding a task: write ``enrich/tasks/<name>.py`` with a :class:`Task` subclass (and its
:class:`~enrich.tasks.view.TaskView`), then add one line to :data:`TASKS`
(docs/architecture.md, "Adding a task").

Example:
    >>> sorted(all_tasks())[:2]
    ['bad_match', 'generic']
    >>> get_task("bad_match").view.name
    'match_labels'
"""

import importlib

from enrich.errors import ConfigError
from enrich.tasks.base import Task
from enrich.tasks.view import TaskView

TASKS: dict[str, str] = {
    "generic": "enrich.tasks.base:Task",
    "item_metadata": "enrich.tasks.item_metadata:ItemMetadataTask",
    "synthetic_queries": "enrich.tasks.synthetic_queries:SyntheticQueriesTask",
    "user_summaries": "enrich.tasks.user_summaries:UserSummaryTask",
    "bad_match": "enrich.tasks.bad_match:BadMatchTask",
    "query_understanding": "enrich.tasks.query_understanding:QueryUnderstandingTask",
}
"""Task name → ``module:Class`` of its task class, imported when first needed."""


def task_class(name: str) -> type[Task]:
    """The class of the task called ``name`` (its module is imported now).

    Raises:
        ConfigError: no task has that name.
    """
    if name not in TASKS:
        raise ConfigError(f"unknown task `{name}`", f"known tasks: {', '.join(sorted(TASKS))}")
    module_name, _, class_name = TASKS[name].partition(":")
    task: type[Task] = getattr(importlib.import_module(module_name), class_name)
    return task


def get_task(name: str | None, options: dict | None = None) -> Task:
    """An instance of the task called ``name`` (the generic task when None)."""
    return task_class(Task.name if name is None else name)(options)


def all_tasks() -> dict[str, type[Task]]:
    """Every registered task kind by name (their modules imported)."""
    return {name: task_class(name) for name in TASKS}


def task_views() -> list[TaskView]:
    """The view of every registered task that has one, in registry order."""
    return [task.view for task in all_tasks().values() if task.view is not None]


def view_columns() -> dict[str, tuple[str, ...]]:
    """View name → the columns a reader can count on (:attr:`TaskView.required_columns`)."""
    return {view.name: view.required_columns for view in task_views()}


__all__ = ["TASKS", "Task", "TaskView", "all_tasks", "get_task", "task_class", "task_views",
           "view_columns"]
