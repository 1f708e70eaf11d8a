"""How often Python's cyclic garbage collector runs while a batch run is under way.

A run at high concurrency allocates and frees thousands of small containers per second
(aiohttp request and response objects, futures, handles, result rows) while a few hundred
requests are in flight at any moment. With the interpreter's default thresholds (a young
collection per 700 net allocations, an older one every 10 of those) the collector keeps
walking the objects of every request in flight: measured at concurrency 256 against the test
server (``bench/PROFILE.md``, sixth round), about 3 s of every 16 s run went to collections
that freed almost nothing, since nearly all of a run's garbage is freed by reference counting.

:func:`paced_collections` raises the young-generation threshold for the duration of a run and
puts the previous thresholds back afterwards (the collector stays on: cyclic garbage is still
freed, only in fewer, larger passes). The ``enrich`` command does the same for its whole
process: importing its libraries before the first request used to run ≈ 140 collections
(≈ 45 ms of the start-up). ``Runner(gc_young=None)`` or ``ENRICH_GC_YOUNG=0`` leaves the
interpreter's collector alone.

Example:
    >>> import gc
    >>> before = gc.get_threshold()
    >>> with paced_collections(20_000):
    ...     gc.get_threshold()[0]
    20000
    >>> gc.get_threshold() == before
    True
"""

import contextlib
import gc
from collections.abc import Iterator, Mapping

# young-generation threshold during a run: ≈ 25 collections per 50,000 rows at concurrency 256
# instead of ≈ 2,000 (measured; the heap stays within a few MB of the default's)
DEFAULT_GC_YOUNG = 10_000


def configured_young(environ: Mapping[str, str]) -> int | None:
    """``ENRICH_GC_YOUNG`` as the command line reads it before anything is imported (the
    settings check the same variable later, and name it in their error if it is not a whole
    number ≥ 0; until then the default applies)."""
    text = environ.get("ENRICH_GC_YOUNG", "").strip()
    if not text:
        return DEFAULT_GC_YOUNG
    try:
        return int(text) or None
    except ValueError:
        return DEFAULT_GC_YOUNG


@contextlib.contextmanager
def paced_collections(young: int | None = DEFAULT_GC_YOUNG) -> Iterator[None]:
    """Within the block, collect the young generation every ``young`` net allocations (None
    or 0: leave the thresholds as they are). The old thresholds come back on exit, also when
    the block raises. The setting is the interpreter's: other threads see it too while the
    block runs."""
    before = gc.get_threshold()
    if young and young > before[0]:
        gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
