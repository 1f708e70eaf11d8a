"""EmbSum user-interest summaries from a user's interaction history.

A row holds one user and a list of interactions (MovieLens: ratings with title, genres, the
user's own tags and a timestamp). The task keeps the most recent ``history_n`` interactions,
ordered by time (oldest first, so the prompt reads like a timeline), and asks for a short
interest summary plus liked and disliked aspects. The items the user rated at least
``like_at`` / at most ``dislike_at`` are added as ``liked_items`` / ``disliked_items`` (ids
from the history itself, not from the model). Read through the ``user_summaries`` view.

Example job (``task_options``)::

    task: user_summaries
    task_options: {history_column: history, history_n: 15}
"""

import re
from collections import Counter
from typing import Any

import orjson
from pydantic import Field

from enrich.backends.base import LLMResult
from enrich.errors import ConfigError
from enrich.prompts import RenderError
from enrich.tasks.base import StrictTaskOptions, Task
from enrich.tasks.common import clean_value, tidy_list
from enrich.tasks.view import TaskView


class UserSummaryOptions(StrictTaskOptions):
    """Options of the user-summary task (field names default to the MovieLens sample)."""

    history_column: str = Field(default="history", description="column with the interactions")
    history_n: int = Field(default=20, ge=1, le=200, description="most recent interactions kept")
    time_field: str = Field(default="timestamp", description="interaction field to order by")
    item_id_field: str = Field(default="movie_id")
    title_field: str = Field(default="title")
    rating_field: str | None = Field(default="rating", description="None for implicit feedback")
    detail_fields: list[str] = Field(default_factory=lambda: ["genres", "tags"],
                                     description="extra fields shown per interaction")
    domain: str = Field(default="movie", description="what was rated, for the prompt")
    scale: str = Field(default="0.5 to 5 stars", description="the rating scale, for the prompt")
    like_at: float = Field(default=4.0, description="rating at or above which an item is liked")
    dislike_at: float = Field(default=2.5, description="rating at or below which it is disliked")


def detail_profile(items: list[dict[str, Any]], top: int = 5) -> str:
    """The most frequent detail values (genres, tags, ...) among interactions, with counts.

    Example:
        >>> detail_profile([{"details": [("genres", "Crime, Drama")]},
        ...                 {"details": [("genres", "Drama")]}])
        'genres: Drama (2), Crime (1)'
    """
    counts: dict[str, Counter[str]] = {}
    for item in items:
        for name, text in item["details"]:
            values = [v.strip() for v in re.split(r"[;,]", text) if v.strip()]
            counts.setdefault(name, Counter()).update(values)
    return "; ".join(f"{name}: " + ", ".join(f"{v} ({n})" for v, n in c.most_common(top))
                     for name, c in counts.items())


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    return (1, value if isinstance(value, int | float) else str(value))


USER_SUMMARIES_VIEW = TaskView(
    name="user_summaries",
    sql="""
SELECT o.run_id, o.row_id AS user_id,
       q.output ->> '$.summary' AS summary,
       CAST(q.output -> '$.liked' AS VARCHAR[]) AS liked,
       CAST(q.output -> '$.disliked' AS VARCHAR[]) AS disliked,
       r.model, r.prompt_version, o.created_at,
       CAST(q.output -> '$.liked_items' AS VARCHAR[]) AS liked_items,
       CAST(q.output -> '$.disliked_items' AS VARCHAR[]) AS disliked_items,
       TRY_CAST(q.output ->> '$.history_n' AS INTEGER) AS history_n,
       o.key AS request_key
FROM outputs o JOIN runs r ON r.run_id = o.run_id JOIN requests q ON q.key = o.key
WHERE r.task = 'user_summaries'
""",
    columns=("run_id", "user_id", "summary", "liked", "disliked", "model", "prompt_version",
             "created_at", "liked_items", "disliked_items", "history_n", "request_key"),
    core_columns=("run_id", "user_id", "summary", "liked", "model", "prompt_version"),
    examples="SELECT user_id, summary, liked, disliked FROM user_summaries "
             "WHERE run_id = ? ORDER BY TRY_CAST(user_id AS BIGINT), user_id",
    stats="SELECT count(*) AS users, round(avg(len(liked)), 1) AS liked_per_user, "
          "round(avg(len(disliked)), 1) AS disliked_per_user, "
          "round(avg(length(summary))) AS summary_chars "
          "FROM user_summaries WHERE run_id = ?",
)


class UserSummaryTask(Task):
    """From a user's recent history to an interest summary and liked/disliked aspects."""

    name = "user_summaries"
    description = "EmbSum user-interest summary + liked/disliked aspects from a history"
    default_prompt = "user_summaries"
    view = USER_SUMMARIES_VIEW
    Options = UserSummaryOptions

    @property
    def cfg(self) -> UserSummaryOptions:
        assert isinstance(self.config, UserSummaryOptions)
        return self.config

    def recent(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The ``history_n`` most recent interactions of a row, oldest first."""
        column = self.cfg.history_column
        if column not in row:
            raise ConfigError(f"task `{self.name}`: the source has no column `{column}`",
                              f"source columns: {', '.join(row)}; set "
                              "task_options.history_column")
        history = row[column]
        if isinstance(history, str):
            try:
                history = orjson.loads(history)
            except orjson.JSONDecodeError:
                history = None
        if not isinstance(history, list):
            raise RenderError(f"row {self.row_id(row)}: `{column}` is not a list of "
                              "interactions (fix the row or drop it from the source)")
        items = [h for h in history if isinstance(h, dict)]
        items.sort(key=lambda h: _sort_key(h.get(self.cfg.time_field)))
        return items[-self.cfg.history_n:]

    def describe(self, item: dict[str, Any]) -> dict[str, Any]:
        """One interaction as prompt fields: title, rating, details, date."""
        cfg = self.cfg
        rating = item.get(cfg.rating_field) if cfg.rating_field else None
        details = [(name, clean_value(item.get(name))) for name in cfg.detail_fields]
        details = [(name, text) for name, text in details if text]
        return {"title": clean_value(item.get(cfg.title_field)),
                "rating": float(rating) if rating is not None else None,
                "details": details,
                "details_text": "; ".join(f"{name}: {text}" for name, text in details),
                "date": clean_value(item.get("date")),
                "item_id": clean_value(item.get(cfg.item_id_field))}

    def variables(self, row: dict[str, Any]) -> dict[str, Any]:
        """Row columns plus ``history`` (recent interactions, oldest first), the ``liked`` /
        ``disliked`` titles and ``liked_profile`` / ``disliked_profile`` (frequent details)."""
        items = [self.describe(h) for h in self.recent(row)]
        liked = [i for i in items if i["rating"] is not None and i["rating"] >= self.cfg.like_at]
        disliked = [i for i in items
                    if i["rating"] is not None and i["rating"] <= self.cfg.dislike_at]
        self.memo.put(self.row_id(row), {"n": len(items),
                                         "liked": [i["item_id"] for i in liked],
                                         "disliked": [i["item_id"] for i in disliked]})
        variables = super().variables(row)
        variables.update(history=items, liked_titles=[i["title"] for i in liked],
                         disliked_titles=[i["title"] for i in disliked],
                         liked_profile=detail_profile(liked),
                         disliked_profile=detail_profile(disliked))
        return variables

    def postprocess(self, output: dict[str, Any], result: LLMResult) -> dict[str, Any]:
        """Tidy the aspects; add the history's liked/disliked item ids and its length."""
        output["summary"] = " ".join(str(output.get("summary", "")).split())
        output["liked"] = tidy_list(output.get("liked") or [])
        output["disliked"] = tidy_list(output.get("disliked") or [])
        facts = self.memo.get(result.request.row_id) or {}
        output["liked_items"] = facts.get("liked", [])
        output["disliked_items"] = facts.get("disliked", [])
        output["history_n"] = facts.get("n")
        return output
