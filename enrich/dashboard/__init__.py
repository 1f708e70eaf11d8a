"""The quality dashboard (Streamlit): runs, outputs, labels vs humans, prompt versions,
retrieval metrics. ``enrich dashboard`` serves it; nothing here imports Streamlit.

The app and its pages are files of this package (``app.py``, ``views/*.py``), found with
:mod:`importlib.resources`, so an installed enrich serves the same dashboard as a checkout.

Example:
    >>> app_path().name
    'app.py'
"""

from importlib import resources
from pathlib import Path

PAGES = ("runs", "outputs", "labels", "versions", "retrieval")


def app_path() -> Path:
    """The Streamlit entry script, ``app.py`` of this package.

    Returns:
        A file-system path (Streamlit runs a script file, so the package must be installed
        as files, which pip always does).
    """
    return Path(str(resources.files(__name__).joinpath("app.py")))


def page_path(name: str) -> Path:
    """The script of one dashboard page.

    Args:
        name: one of :data:`PAGES`.

    Returns:
        ``views/NAME.py`` of this package.
    """
    if name not in PAGES:
        raise ValueError(f"unknown dashboard page {name!r}; pages: {', '.join(PAGES)}")
    return Path(str(resources.files(__name__).joinpath("views", f"{name}.py")))
