"""Task kinds: what each enrichment job does beyond rendering a prompt (see ``base.py``)."""

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


def _load_builtin_tasks() -> None:
    """Import the task modules (each registers itself); cheap, no heavy imports."""
    import importlib
    import pkgutil

    import enrich.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in ("base",):
            importlib.import_module(f"enrich.tasks.{module.name}")


__all__ = ["TASKS", "Task", "get_task", "register"]
