"""Bounds on rendering one row's prompt: time, output size and the size of values it builds.

Jinja2's sandbox keeps a template away from Python internals, but it does not bound work:
``{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}`` renders
for hours and ``{{ 'x' * 10**9 }}`` builds a gigabyte string. :class:`BoundedSandbox` renders
with a deadline and a size budget (:func:`render_bounded`):

- the output is produced chunk by chunk (as ``Template.generate()`` does) and checked between
  chunks (size at every chunk, the clock every few chunks);
- every ``{% for %}`` loop iterates through a guard that checks the clock every 256 items, so a
  loop that prints nothing cannot run forever either;
- ``*``, ``**``, ``+``, ``%`` and ``~`` are intercepted: a string or list over the budget, or an
  integer over :data:`MAX_INT_BITS` bits, is refused before it is built;
- string methods and the ``center``/``indent``/``format``/``replace`` filters refuse widths and
  results over the budget.

Going over a bound raises :class:`LimitExceeded`; ``PromptFile.render`` turns it into a
``RenderLimit`` error, which the runner records as that row's ``render_limit`` failure.

Example:
    >>> env = BoundedSandbox()
    >>> render_bounded(env.from_string("{{ 'ab' * 2 }}"), {}, max_seconds=1.0, max_chars=100)
    'abab'
"""

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SECONDS = 2.0
"""Default time one row's prompt may take to render."""
MAX_CHARS = 32_000_000
"""Default size (characters) of a rendered prompt and of any string or list a template builds."""
MAX_INT_BITS = 100_000
"""Largest integer (in bits, about 30,000 digits) a template may compute with ``*``/``**``."""
_CLOCK_EVERY = 256  # loop items between clock checks
_FORMAT_WIDTH = re.compile(r"%[#0 +\-]*(\d+|\*)?(?:\.(\d+|\*))?")


class LimitExceeded(Exception):
    """A template went over its time or size budget (the message says which)."""


class _Budget:
    """The limits of the render in progress on this thread."""

    __slots__ = ("deadline", "max_chars", "max_seconds")

    def __init__(self, max_seconds: float, max_chars: int):
        self.max_seconds = max_seconds
        self.max_chars = max_chars
        self.deadline = time.perf_counter() + max_seconds

    def check_time(self) -> None:
        if time.perf_counter() > self.deadline:
            raise LimitExceeded(f"rendering took over {self.max_seconds:g} s (a loop that "
                                "does not end?)")

    def check_size(self, size: int, what: str) -> None:
        """Refuse ``what`` (a result, or a width) of ``size`` characters over the budget."""
        if size > self.max_chars:
            raise LimitExceeded(f"{what} ({size:,} characters) is over the limit of "
                                f"{self.max_chars:,}")


_UNBOUNDED_TIME = _Budget(float("inf"), MAX_CHARS)  # outside render_bounded: sizes only


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every loop's iterable and every ``~`` concatenation going
    through the environment's guards (``environment.guard_iter(...)``, ``guard_concat``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) not in self._loop_iterables:
            return super().visit(node, *args, **kwargs)
        self.write("environment.guard_iter(")
        super().visit(node, *args, **kwargs)
        self.write(")")
        return None

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guard_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _check_binop(budget: _Budget, operator: str, left: Any, right: Any) -> None:
    """Refuse ``left OPERATOR right`` when its result would be over the budget."""
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            size = _size(seq)
            if size is not None and isinstance(times, int):
                budget.check_size(size * max(times, 0), "the result of `*`")
        if isinstance(left, int) and isinstance(right, int) and \
                left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"the result of `*` would be over {MAX_INT_BITS:,} bits")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and \
                right * left.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"the result of `**` would be over {MAX_INT_BITS:,} bits")
    elif operator == "+":
        sizes = _size(left), _size(right)
        if sizes[0] is not None and sizes[1] is not None:
            budget.check_size(sizes[0] + sizes[1], "the result of `+`")
    elif operator == "%" and isinstance(left, str):
        _check_format(budget, left, right if isinstance(right, tuple) else (right,))


def _check_format(budget: _Budget, text: str, args: Iterable[Any]) -> None:
    """Refuse ``%``-formatting whose widths (written, or passed for a ``*``) are over the
    budget."""
    specs = [n for match in _FORMAT_WIDTH.finditer(text) for n in match.groups() if n]
    widths = [int(n) for n in specs if n != "*"]
    if "*" in specs:  # the width is one of the arguments
        widths += [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    if widths:
        budget.check_size(max(widths), "a width in `%` formatting")


def _check_numbers(budget: _Budget, args: Iterable[Any], what: str) -> None:
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool):
            budget.check_size(value, what)


def _bounded_filter(env: "BoundedSandbox", name: str) -> Callable[..., Any]:
    """The filter ``name``, refusing numeric arguments (widths) and replacements that would
    make a result over the budget."""
    original = env.filters[name]

    @wraps(original)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = env.budget()
        if name in ("center", "indent"):
            _check_numbers(budget, [*args[1:], *kwargs.values()], f"a width passed to `{name}`")
        if name == "replace":  # (eval_ctx, s, old, new, count=None)
            _check_replace(budget, *args[1:4])
        if name == "format" and isinstance(args[0], str):
            _check_format(budget, args[0], args[1:])
        return original(*args, **kwargs)

    return bounded


def _check_replace(budget: _Budget, text: Any = "", old: Any = "", new: Any = "") -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        grows = len(new) - len(old)
        if grows > 0:
            budget.check_size(len(text) + (text.count(old) if old else len(text) + 1) * grows,
                              "the result of `replace`")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with time and size bounds (see the module docstring).

    Renders through :func:`render_bounded`; rendered any other way, only the size bounds
    apply.
    """

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        for name in ("center", "indent", "format", "replace"):
            self.filters[name] = _bounded_filter(self, name)

    def budget(self) -> _Budget:
        """The budget of the render in progress on this thread."""
        return getattr(self._local, "budget", None) or _UNBOUNDED_TIME

    def set_budget(self, budget: _Budget | None) -> None:
        self._local.budget = budget

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """A loop's items, checking the clock every few items."""
        budget = self.budget()
        for count, item in enumerate(iterable, 1):
            if not count % _CLOCK_EVERY:
                budget.check_time()
            yield item

    def guard_concat(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ ...``, refused when the result would be over the budget."""
        texts = [str(part) for part in parts]
        self.budget().check_size(sum(map(len, texts)), "the result of `~`")
        return "".join(texts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(self.budget(), operator, left, right)
        return self.binop_table[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any,  # noqa: N805 - as Jinja's
             **kwargs: Any) -> Any:
        """Call from a template; a string method gets no width over the budget."""
        if isinstance(getattr(__obj, "__self__", None), str):
            budget = __self.budget()
            _check_numbers(budget, [*args, *kwargs.values()], "a number passed to a string "
                                                              "method")
            if getattr(__obj, "__name__", "") == "replace":
                _check_replace(budget, __obj.__self__, *args[:2])
        return super().call(__context, __obj, *args, **kwargs)


def render_bounded(template: Any, variables: dict[str, Any], *, max_seconds: float = MAX_SECONDS,
                   max_chars: int = MAX_CHARS) -> str:
    """Render ``template`` (made by a :class:`BoundedSandbox`) within the limits.

    Args:
        template: a compiled template of a :class:`BoundedSandbox`.
        variables: what the template sees.
        max_seconds: time budget.
        max_chars: size budget of the output and of every value built on the way.

    Returns:
        The rendered text.

    Raises:
        LimitExceeded: the template went over a limit.
    """
    env: BoundedSandbox = template.environment
    budget = _Budget(max_seconds, max_chars)
    env.set_budget(budget)
    parts: list[str] = []
    size = 0
    # chunk by chunk, as Template.generate() does (without its extra generator layer)
    chunks = template.root_render_func(template.new_context(variables))
    try:
        for count, chunk in enumerate(chunks, 1):
            size += len(chunk)
            if size > max_chars:
                raise LimitExceeded(f"the rendered prompt passed {max_chars:,} characters")
            if not count % 32:
                budget.check_time()
            parts.append(chunk)
    except LimitExceeded:
        raise
    except Exception:  # noqa: BLE001 - re-raised by Jinja with the template's line numbers
        env.handle_exception()
    finally:
        chunks.close()
        env.set_budget(None)
    return "".join(parts)
