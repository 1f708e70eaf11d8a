"""A small `msgspec.Struct` look-alike, so the stand-in needs no extra package.

vLLM's `SamplingParams` is a `msgspec.Struct`. What callers can observe of that is copied here:
fields come from the class annotations (keyword or positional, in declaration order), an unknown
keyword raises `TypeError("Unexpected keyword argument 'x'")` and too many positional arguments
`TypeError("Extra positional arguments provided")` (msgspec's own messages), defaults made by
`field(default_factory=...)` are fresh per instance, and `__post_init__` runs after `__init__`.
"""

import copy
from typing import Any

_NODEFAULT = object()


class _Field:
    def __init__(self, default: Any = _NODEFAULT, default_factory: Any = None):
        self.default = default
        self.default_factory = default_factory

    def make(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        return copy.copy(self.default)


def field(*, default: Any = _NODEFAULT, default_factory: Any = None) -> Any:
    """Like `msgspec.field`."""
    return _Field(default, default_factory)


class Struct:
    """Like `msgspec.Struct` for construction (class keywords such as `omit_defaults` and
    `dict` are accepted and ignored)."""

    __struct_fields__: tuple[str, ...] = ()
    __struct_defaults__: dict[str, Any] = {}

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__()
        names: list[str] = []
        defaults: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if name.startswith("__") or name in names:
                    continue
                names.append(name)
                if name in klass.__dict__:
                    defaults[name] = klass.__dict__[name]
        cls.__struct_fields__ = tuple(names)
        cls.__struct_defaults__ = defaults

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self.__struct_fields__
        if len(args) > len(fields):
            raise TypeError("Extra positional arguments provided")
        values = dict(zip(fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields:
                raise TypeError(f"Unexpected keyword argument '{name}'")
            if name in values:
                raise TypeError(f"Argument '{name}' given by name and position")
            values[name] = value
        for name in fields:
            if name in values:
                value = values[name]
            elif name in self.__struct_defaults__:
                default = self.__struct_defaults__[name]
                value = default.make() if isinstance(default, _Field) else default
            else:
                raise TypeError(f"Missing required argument '{name}'")
            object.__setattr__(self, name, value)
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__struct_fields__)

    __hash__ = None  # type: ignore[assignment]  # mutable, like msgspec's default
