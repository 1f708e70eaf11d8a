"""Optional packages: which extra installs a module, and the one error for a missing one.

The base install (``pip install enrich``) runs jobs over HTTP servers, stores, exports and the
prompt library. Everything else comes with an extra: ``[llamacpp]`` (the embedded backend),
``[ml]`` (BM25, metrics, distillation, retrieval), ``[dashboard]`` (Streamlit), ``[vllm]`` and
``[ray]`` (scale-out), ``[batch]`` (the ``openai`` SDK for a provider's Batch API).
Whatever imports an optional module, a missing one ends as one line naming the pip command
(exit 2), never as an internal error: commands call :func:`require` up front where they know
what they need, and the CLI turns any other ``ModuleNotFoundError`` of an optional module into
the same error with :func:`missing_module_error`.

Example:
    >>> require("dashboard", "enrich dashboard")        # doctest: +SKIP
    >>> install_hint("ml")
    "install it: pip install 'enrich[ml]'"
"""

import importlib.util

from enrich.errors import EnrichError

# top-level module -> the extra that installs it (directly or as a dependency of it)
MODULE_EXTRAS: dict[str, str] = {
    **dict.fromkeys(("sentence_transformers", "transformers", "torch", "accelerate",
                     "datasets", "bm25s", "Stemmer", "ranx", "pytrec_eval", "pytrec_eval_ext",
                     "usearch", "threadpoolctl", "langchain_core", "numpy"), "ml"),
    # the dashboard needs these too (its label pages compute the same metrics): they are in
    # both extras, and a base install learns about the smaller one
    **dict.fromkeys(("streamlit", "altair", "vl_convert", "pandas", "scipy", "sklearn"),
                    "dashboard"),
    "llama_cpp": "llamacpp",
    "vllm": "vllm",
    "ray": "ray",
    "openai": "batch",
}
# what each extra must bring, for :func:`require` (a check, not an import)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "ml": ("numpy", "pandas", "scipy", "sklearn", "bm25s", "ranx", "sentence_transformers"),
    "dashboard": ("streamlit", "altair", "pandas", "scipy", "sklearn"),
    "llamacpp": ("llama_cpp",),
    "vllm": ("vllm",),
    "ray": ("ray",),
    "batch": ("openai",),
}
# modules in both [ml] and [dashboard]: name [ml], which is what a command-line user needs
_BOTH = frozenset(("pandas", "scipy", "sklearn"))


class MissingExtra(EnrichError):
    """An optional package is not installed (exit code 2: install the extra and rerun).

    Args:
        module: the top-level module that is missing.
        extra: the ``enrich[...]`` extra that installs it.
        purpose: what needed it, e.g. ``enrich eval run``.
    """

    def __init__(self, module: str, extra: str, purpose: str = "") -> None:
        needs = f"{purpose} needs" if purpose else "this needs"
        super().__init__(f"{needs} the Python package `{module}`, which is not installed",
                         install_hint(extra))
        self.module = module
        self.extra = extra


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``.

    Args:
        extra: an extra of the enrich package (``ml``, ``dashboard``, ``llamacpp``, ``vllm``).

    Returns:
        ``"install it: pip install 'enrich[EXTRA]'"``.
    """
    return f"install it: pip install 'enrich[{extra}]'"


def extra_for(module: str, prefer: str = "ml") -> str | None:
    """The extra that installs ``module`` (a dotted name is reduced to its top level).

    Args:
        module: a module name such as ``scipy.stats``.
        prefer: for modules that several extras bring, the one to name.

    Returns:
        The extra's name, or None when the module is not an optional dependency of enrich.
    """
    top = module.split(".")[0]
    if top in _BOTH:
        return prefer
    return MODULE_EXTRAS.get(top)


def missing_module_error(exc: BaseException, purpose: str = "") -> MissingExtra | None:
    """The one-line error for a ``ModuleNotFoundError`` of an optional module, if it is one.

    Follows the exception's cause/context chain, so an import error wrapped by other code is
    found too.

    Args:
        exc: any exception.
        purpose: what needed the module (shown in the message).

    Returns:
        A :class:`MissingExtra`, or None when no optional module is missing.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            extra = extra_for(current.name)
            if extra is not None:
                return MissingExtra(current.name.split(".")[0], extra, purpose)
        current = current.__cause__ or current.__context__
    return None


def require(extra: str, purpose: str) -> None:
    """Check, without importing them, that the modules of ``extra`` are installed.

    Args:
        extra: ``ml``, ``dashboard``, ``llamacpp`` or ``vllm``.
        purpose: what needs them, e.g. ``enrich dashboard`` (shown in the message).

    Raises:
        MissingExtra: the first missing module, with the pip command that installs it.
    """
    for module in EXTRA_MODULES[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or blocked package is a missing one
            found = False
        if not found:
            raise MissingExtra(module, extra, purpose)
