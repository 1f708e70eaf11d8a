"""``enrich batch import``: a provider's results, stored as a live run would store them.

The import is an ordinary run of the job (same fingerprint, so it resumes the job's
unfinished run, and a later ``enrich run`` resumes it in turn) whose backend answers from the
results file (:class:`ResultsFileBackend`). Importing the same file again changes nothing:
rows stored already are skipped, and a finished run means there is nothing left to import.

Example:
    >>> outcome = import_results(plan, store, read_results([path], model), console)
    ...                                                                     # doctest: +SKIP
"""

import asyncio
from dataclasses import dataclass

from rich.console import Console

from enrich.batch_files.file_backend import ResultsFileBackend
from enrich.batch_files.results import ResultsIndex
from enrich.errors import ConfigError
from enrich.plan import RunPlan
from enrich.progress import RunSummary
from enrich.runner import Runner
from enrich.store import Store


@dataclass
class ImportOutcome:
    """What an import did.

    Attributes:
        summary: the run's summary (None when a finished run already held every row).
        finished_run: that finished run's id, when there was nothing to import.
        used: result lines whose key a row of the job asked for.
    """

    summary: RunSummary | None
    finished_run: str | None = None
    used: int = 0


def finished_run(plan: RunPlan, store: Store) -> str | None:
    """The finished run of this exact job (same fingerprint and settings) with nothing left
    to re-send, if there is one: importing into it would change nothing."""
    if store.resumable_run(plan.job.name, plan.fingerprint):
        return None
    found = store.replayable_run(plan.job.name, plan.fingerprint, plan.run_config()["config"])
    return found[0] if found else None


def import_results(plan: RunPlan, store: Store, results: ResultsIndex,
                   console: Console | None) -> ImportOutcome:
    """Run the job with answers from ``results`` (see the module docstring).

    Args:
        plan: the resolved job.
        store: the writable store.
        results: the results files, read.
        console: where progress goes (None: silent).
    """
    done = finished_run(plan, store)
    if done is not None:
        return ImportOutcome(None, finished_run=done)
    backend = ResultsFileBackend(results, plan.job.backend.model)
    summary = asyncio.run(Runner(plan, store, backend, console=console).run())
    if results.outcomes and summary.pending and not backend.found \
            and not store.known_keys(list(results.outcomes)):  # (not a file imported before)
        if not summary.resumed:
            store.discard_run(summary.run_id)  # (only if it stored nothing)
        raise ConfigError(
            f"none of the {len(results.outcomes):,} requests in these files is a request of "
            f"`{plan.job.name}` as it stands ({summary.pending:,} rows have no result): a "
            "line's custom_id is the request's cache key, which changes with the model, the "
            "prompt, its parameters and the row",
            "import with the same job file and the same --model, --source and --limit as the "
            "export (and the prompt files unchanged since)")
    return ImportOutcome(summary, used=len(backend.answered))
