"""Task kinds: what each enrichment job does beyond rendering a prompt (see ``base.py``).

Built-in tasks (each a module here, registered with :func:`register`):

| task | view | what |
| --- | --- | --- |
| ``item_metadata`` | ``item_metadata`` | clean title, summary, attributes, keywords |
| ``synthetic_queries`` | ``synthetic_queries`` | doc2query / InPars queries + consistency filter |
| ``user_summaries`` | ``user_summaries`` | EmbSum user-interest summaries from histories |
| ``bad_match`` | ``match_labels`` | good / partial / bad labels with P(bad) from logprobs |
| ``query_understanding`` | ``query_parses`` | typed spans, intent, spelling, rewrites (+ RAG) |

Example:
    >>> sorted(all_tasks())[:2]
    ['bad_match', 'generic']
"""

from enrich.errors import ConfigError
from enrich.tasks.base import Task

TASKS: dict[str, type[Task]] = {Task.name: Task}


def register(task: type[Task]) -> type[Task]:
    """Class decorator adding a task kind to :data:`TASKS`."""
    TASKS[task.name] = task
    return task


def get_task(name: str | None, options: dict | None = None) -> Task:
    """An instance of the task called ``name`` (the generic task when None)."""
    _load_builtin_tasks()
    if name is None:
        return Task(options)
    if name not in TASKS:
        raise ConfigError(f"unknown task `{name}`", f"known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name](options)


def all_tasks() -> dict[str, type[Task]]:
    """Every registered task kind by name (built-in modules imported first)."""
    _load_builtin_tasks()
    return dict(TASKS)


_HELPER_MODULES = ("base", "common", "logprobs", "spans", "ranking", "query_filter", "report",
                   "query_likelihood")


def _load_builtin_tasks() -> None:
    """Import the task modules (each registers itself); cheap, no heavy imports."""
    import importlib
    import pkgutil

    import enrich.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _HELPER_MODULES:
            importlib.import_module(f"enrich.tasks.{module.name}")


__all__ = ["TASKS", "Task", "all_tasks", "get_task", "register"]
