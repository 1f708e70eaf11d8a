"""A task's typed DuckDB view: how downstream steps read the task's results.

Each task declares one :class:`TaskView` on its class (``view = TaskView(...)``). The store
creates every registered task's view when it opens a store for writing (see
:func:`enrich.store.migrations.create_task_views`); distillation checks its columns and
``enrich tasks summary`` runs its queries. Nothing else keeps a copy of the name, the SQL or
the columns.

Example:
    >>> view = TaskView(name="labels", columns=("run_id", "label"),
    ...                 sql="SELECT o.run_id, q.output ->> '$.label' AS label FROM outputs o "
    ...                     "JOIN requests q ON q.key = o.key")
    >>> view.example_query(2)
    'SELECT * FROM labels WHERE run_id = ? LIMIT 2'
"""

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TaskView(BaseModel):
    """The view a task's runs are read through, and what ``enrich tasks summary`` asks of it.

    Attributes:
        name: the view's name in the store (a SQL identifier).
        sql: the ``SELECT`` that defines it, over the store's tables (``outputs``, ``runs``,
            ``requests`` and the task's own tables from the migrations).
        columns: the view's columns in order; a test checks them against what DuckDB creates.
        core_columns: the columns every reader can count on, also in a store written by an
            older enrich or in a side store that holds the view's rows as a table (the
            distillation's input check); None: all of ``columns``.
        examples: a ``SELECT`` of the example rows ``enrich tasks summary`` shows for one run
            (one ``?``: the run id); None shows every column.
        stats: a ``SELECT`` of one row of statistics for one run (one ``?``: the run id).
        breakdowns: statistic name → ``SELECT`` of (key, value) rows for one run (one ``?``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    sql: str = Field(min_length=1)
    columns: tuple[str, ...] = Field(min_length=1)
    core_columns: tuple[str, ...] | None = None
    examples: str | None = None
    stats: str | None = None
    breakdowns: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _core_in_columns(self) -> "TaskView":
        unknown = [c for c in self.core_columns or () if c not in self.columns]
        if unknown:
            raise ValueError(f"view `{self.name}`: core column(s) {', '.join(unknown)} are not "
                             "among its columns")
        return self

    @property
    def required_columns(self) -> tuple[str, ...]:
        """What a reader checks: the core columns (all columns when none are named)."""
        return self.columns if self.core_columns is None else self.core_columns

    def create_statement(self) -> str:
        """The DDL that (re)creates the view."""
        return f"CREATE OR REPLACE VIEW {self.name} AS\n{self.sql.strip().rstrip(';')}"

    def fingerprint(self) -> str:
        """A hash of the view's DDL: the store keeps it as the view's comment, so a view that
        is already current is not created again."""
        digest = hashlib.blake2b(self.create_statement().encode(), digest_size=8).hexdigest()
        return f"enrich view {digest}"

    def example_query(self, limit: int) -> str:
        """The example rows' query with a ``LIMIT``."""
        query = self.examples or f"SELECT * FROM {self.name} WHERE run_id = ?"
        return f"{query} LIMIT {int(limit)}"
