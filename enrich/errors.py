"""User-facing errors: one line saying what is wrong and what to do next."""


class EnrichError(Exception):
    """An expected mistake (bad job file, missing model, server down, ...).

    The CLI prints ``message`` and ``hint`` on one line each, without a traceback, and exits
    non-zero. Library callers can catch it like any exception.

    Args:
        message: what is wrong, naming the file, row or field.
        hint: what the user should do next.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(EnrichError):
    """A job file, prompt file or schema is invalid."""


class SourceError(EnrichError):
    """The source data cannot be read or lacks what the job needs."""


class BackendError(EnrichError):
    """The LLM backend cannot be started or reached (server down, model missing, bad key)."""


class StoreError(EnrichError):
    """The DuckDB store cannot be opened or written."""


class Interrupted(EnrichError):
    """The user stopped the command (Ctrl-C or SIGTERM) before it finished."""

    exit_code = 130
