"""The explicit task registry (issue 18): every task module in ``enrich/tasks/`` is listed in
``TASKS``, modules are imported only when needed, and tasks never import the run plan."""

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import enrich.tasks
from enrich.errors import ConfigError
from enrich.optional import MODULE_EXTRAS
from enrich.tasks import TASKS, Task, all_tasks, get_task, task_class

TASKS_DIR = Path(enrich.tasks.__file__).parent


def task_classes_in(package: types.ModuleType) -> dict[str, str]:
    """Task name → ``module:Class`` of every Task subclass defined in the package's modules."""
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, Task) and \
                    cls.__module__ == module.__name__:
                found[cls.name] = f"{module.__name__}:{cls.__name__}"
    return found


def registry_problems(package: types.ModuleType, registry: dict[str, str]) -> list[str]:
    """What differs between the task classes in the package and the registry, as messages."""
    found = task_classes_in(package)
    problems = []
    for name, where in sorted(found.items()):
        if registry.get(name) != where:
            module, _, cls = where.partition(":")
            problems.append(f"{module.replace('.', '/')}.py defines task `{name}` ({cls}) but "
                            f"TASKS does not list it: add \"{name}\": \"{where}\" to TASKS in "
                            "enrich/tasks/__init__.py")
    for name, where in sorted(registry.items()):
        if name not in found:
            problems.append(f"TASKS lists `{name}` → {where}, which is not a task class in "
                            "enrich/tasks/ (remove it, or fix the path)")
    return problems


def test_the_registry_lists_exactly_the_task_modules_in_the_folder() -> None:
    problems = registry_problems(enrich.tasks, TASKS)
    assert not problems, "\n".join(problems)
    for name in TASKS:
        assert task_class(name).name == name


def test_an_unregistered_task_file_fails_with_where_to_register_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "spell_check.py").write_text(
        "from enrich.tasks.base import Task\n\n\nclass SpellCheckTask(Task):\n"
        "    name = 'spell_check'\n")
    monkeypatch.setattr(enrich.tasks, "__path__", [*enrich.tasks.__path__, str(tmp_path)])
    gone = {**TASKS, "spell_check": "enrich.tasks.spell_check:SpellCheckTask",
            "gone": "enrich.tasks.gone:GoneTask"}
    try:
        problems = registry_problems(enrich.tasks, TASKS)
        stale = registry_problems(enrich.tasks, gone)
    finally:
        sys.modules.pop("enrich.tasks.spell_check", None)
    assert problems == ['enrich/tasks/spell_check.py defines task `spell_check` (SpellCheckTask) '
                        'but TASKS does not list it: add "spell_check": '
                        '"enrich.tasks.spell_check:SpellCheckTask" to TASKS in '
                        'enrich/tasks/__init__.py']
    assert stale == [
        "TASKS lists `gone` → enrich.tasks.gone:GoneTask, which is not a task class in "
        "enrich/tasks/ (remove it, or fix the path)"]


def test_get_task_keeps_its_api() -> None:
    assert type(get_task(None)) is Task and get_task(None, {"x": 1}).options == {"x": 1}
    view = get_task("bad_match", {"item_text_columns": ["t"]}).view
    assert view is not None and view.name == "match_labels"
    with pytest.raises(ConfigError, match="unknown task `nope`") as info:
        get_task("nope")
    assert "bad_match" in info.value.hint and "query_understanding" in info.value.hint
    assert sorted(all_tasks()) == sorted(TASKS)


@pytest.mark.parametrize("first, second", [("enrich.plan", "enrich.tasks.base"),
                                           ("enrich.tasks.base", "enrich.plan"),
                                           ("enrich.tasks.bad_match", "enrich.plan")])
def test_plan_and_tasks_import_in_either_order(first: str, second: str) -> None:
    code = (f"import sys, {first}\n"
            "assert 'enrich.plan' not in sys.modules or "
            f"'{first}' == 'enrich.plan', 'a task imported the plan'\n"
            f"import {second}\n"
            "from enrich.plan import RunPlan\nfrom enrich.tasks import get_task\n"
            "assert get_task('item_metadata').view.name == 'item_metadata'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_task_module_imports_the_plan_even_for_type_checking() -> None:
    offenders = [path.name for path in sorted(TASKS_DIR.glob("*.py"))
                 if "enrich.plan" in _imported_modules(path)]
    assert offenders == [], "the plan imports tasks; tasks see it as base.TaskPlan"


def test_modules_are_imported_lazily_and_no_optional_package_comes_with_them() -> None:
    code = ("import sys\nimport enrich.store\n"
            "assert not any(m.startswith('enrich.tasks') for m in sys.modules), 'store'\n"
            "from enrich.tasks import all_tasks, get_task, task_views\n"
            "get_task('item_metadata')\n"
            "assert 'enrich.tasks.bad_match' not in sys.modules, 'get_task imported every task'\n"
            "all_tasks(); task_views()\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    optional = set(done.stdout.split()) & set(MODULE_EXTRAS)
    assert not optional, f"importing the tasks imported optional packages: {optional}"
