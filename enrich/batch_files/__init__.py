"""Provider batch files: a job's pending requests out as OpenAI Batch API / ``vllm run-batch``
JSONL, and the provider's results back in through the live run's validation, cache and
failure rows (``enrich batch export`` / ``enrich batch import``).
"""

from enrich.batch_files.export import ExportSummary, export_requests
from enrich.batch_files.file_backend import ResultsFileBackend
from enrich.batch_files.formats import BatchOutputLine, BatchRequestLine, BatchResponseData
from enrich.batch_files.importer import ImportOutcome, import_results
from enrich.batch_files.results import FileOutcome, ResultsIndex, read_results

__all__ = [
    "BatchOutputLine",
    "BatchRequestLine",
    "BatchResponseData",
    "ExportSummary",
    "FileOutcome",
    "ImportOutcome",
    "ResultsFileBackend",
    "ResultsIndex",
    "export_requests",
    "import_results",
    "read_results",
]
