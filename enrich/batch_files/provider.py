"""A provider's Batch API (OpenAI's, or one that copies it): upload request files, create
batches, read their state, download their results — ``enrich batch submit|status|fetch``.

The files are the ones ``enrich batch export --format openai`` writes, and the results go
through the same import as ``enrich batch import``, so nothing here validates or stores
anything: it only moves files, with the official ``openai`` SDK (``pip install
'enrich[batch]'``). Throughput does not matter on this path (a batch takes hours and costs
half the price of live calls), so the SDK's own client is fine here, unlike on the live path.

Batches are labelled with ``metadata.enrich_job`` (the job's name), so ``status`` and ``fetch``
find a job's batches without any state kept on this machine.

Example:
    >>> client = batch_client(None, "OPENAI_API_KEY")                    # doctest: +SKIP
    >>> [b.id for b in submit_files(client, [Path("requests.jsonl")], "items", "24h")]
    ... # doctest: +SKIP
    ['batch_abc123']
"""

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from enrich.errors import BackendError, ConfigError
from enrich.optional import require

ENDPOINT = "/v1/chat/completions"
JOB_KEY = "enrich_job"
FINISHED = frozenset({"completed", "expired", "cancelled", "failed"})
MAX_LISTED = 2000  # batches read when looking for a job's own (newest first)


class ProviderBatch(BaseModel):
    """A batch as the provider reports it."""

    id: str
    status: str
    job: str | None = None
    created_at: datetime
    total: int = 0
    completed: int = 0
    failed: int = 0
    input_file_id: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[str] = []

    @property
    def finished(self) -> bool:
        """Nothing more will happen to it (its files, if any, can be fetched)."""
        return self.status in FINISHED

    @classmethod
    def of(cls, batch: Any) -> "ProviderBatch":
        """From the SDK's ``Batch``."""
        counts = batch.request_counts
        errors = [f"{e.code or 'error'}: {e.message or ''}".strip()
                  for e in (batch.errors.data or [])] if batch.errors else []
        return cls(id=batch.id, status=batch.status, job=(batch.metadata or {}).get(JOB_KEY),
                   created_at=datetime.fromtimestamp(batch.created_at, UTC),
                   total=counts.total if counts else 0,
                   completed=counts.completed if counts else 0,
                   failed=counts.failed if counts else 0, input_file_id=batch.input_file_id,
                   output_file_id=batch.output_file_id, error_file_id=batch.error_file_id,
                   errors=errors)


def batch_client(base_url: str | None, api_key_env: str) -> Any:
    """An ``openai.OpenAI`` client for the Batch API at ``base_url`` (None: the SDK's own
    default, ``OPENAI_BASE_URL`` or OpenAI), with the key from ``api_key_env``."""
    require("batch", "enrich batch submit|status|fetch")
    import openai

    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise BackendError(f"environment variable {api_key_env} is not set (it should hold "
                           "the Batch API's key)", f"export {api_key_env}=... (or name another "
                           "variable with --api-key-env)")
    return openai.OpenAI(api_key=key, base_url=base_url, max_retries=3, timeout=600.0)


@contextmanager
def provider_errors(action: str, base_url: str) -> Iterator[None]:
    """Turn the SDK's errors inside the block into one line that says what to do."""
    import openai

    where = f"the Batch API at {base_url}"
    try:
        yield
    except (openai.AuthenticationError, openai.PermissionDeniedError):
        raise BackendError(f"{where} rejected the API key while trying to {action}",
                           "check the key in the variable named by --api-key-env") from None
    except openai.NotFoundError as exc:
        raise ConfigError(f"{where} has no such object ({_said(exc)}) while trying to "
                          f"{action}", "check the batch id (`enrich batch status`) and "
                          "--base-url") from None
    except openai.APIConnectionError as exc:
        raise BackendError(f"cannot reach {where} ({type(exc).__name__}) while trying to "
                           f"{action}", "check --base-url and the network") from None
    except openai.APIStatusError as exc:
        raise BackendError(f"{where} refused to {action}: HTTP {exc.status_code} "
                           f"{_said(exc)}", "read the provider's message; nothing was "
                           "stored") from None


def _said(exc: Any) -> str:
    return " ".join(str(getattr(exc, "message", exc)).split())[:300]


def submit_files(client: Any, files: Iterable[Path], job: str, window: str
                 ) -> list[ProviderBatch]:
    """Upload each requests file (``purpose=batch``) and create one batch for it. When the
    provider fails, the files no batch was created for are deleted (they were not sent; the
    next ``submit`` exports their requests again) and the error is raised."""
    batches: list[ProviderBatch] = []
    paths = list(files)
    try:
        for path in paths:
            with path.open("rb") as handle:
                uploaded = client.files.create(file=handle, purpose="batch")
            created = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT,
                                            completion_window=window,
                                            metadata={JOB_KEY: job, "enrich_file": path.name})
            batches.append(ProviderBatch.of(created))
    except BaseException:
        for path in paths[len(batches):]:
            path.unlink(missing_ok=True)
        raise
    return batches


def find_batches(client: Any, job: str | None, ids: list[str]) -> list[ProviderBatch]:
    """The batches ``ids``; without ids, the job's (by their ``enrich_job`` label, newest
    first; every labelled batch when ``job`` is None)."""
    if ids:
        return [ProviderBatch.of(client.batches.retrieve(batch_id)) for batch_id in ids]
    found = []
    for number, batch in enumerate(client.batches.list(limit=100)):
        if number >= MAX_LISTED:
            break
        label = (batch.metadata or {}).get(JOB_KEY)
        if label is not None and (job is None or label == job):
            found.append(ProviderBatch.of(batch))
    return found


def download_results(client: Any, batch: ProviderBatch, folder: Path) -> list[Path]:
    """Write a finished batch's output and error files into ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_id, part in ((batch.output_file_id, "output"), (batch.error_file_id, "errors")):
        if file_id:
            path = folder / f"{batch.id}.{part}.jsonl"
            path.write_bytes(client.files.content(file_id).read())
            paths.append(path)
    return paths
