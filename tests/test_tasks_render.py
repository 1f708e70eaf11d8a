"""Each task's prompt rendered on rows of the shipped samples, through the task's variables."""

from pathlib import Path
from typing import Any

import pytest
from test_tasks_support import make_project

from enrich.errors import ConfigError
from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.prompts import RenderError


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("render"))


def render(project: Path, job: str, n: int = 3, **overrides: Any) -> list[str]:
    """The user messages of the first ``n`` rows of a job (task variables included)."""
    plan = RunPlan.build(load_job(project / "jobs" / job, overrides))
    plan.task.prepare(plan, None)  # type: ignore[arg-type]  # no task reads the store here
    rows = next(plan.source.batches(n))
    return [plan.prompt.render(plan.task.variables(row))[-1]["content"] for row in rows]


def test_item_metadata_on_movielens_and_home_depot(project: Path) -> None:
    movie = render(project, "movielens_item_metadata.yaml", 1)[0]
    assert movie.startswith("Item: Jumanji (1995)")
    assert "Genres: Adventure, Children, Fantasy" in movie
    assert "What users say about it: game; Robin Williams" in movie
    product = render(project, "homedepot_item_metadata.yaml", 1)[0]
    assert product.startswith("Item: Samsung Flex Duo 5.8 cu. ft.")
    assert "Genres" not in product


def test_synthetic_queries_lists_the_item_fields_and_the_count(project: Path) -> None:
    text = render(project, "homedepot_synthetic_queries.yaml", 1, **{
        "task_options.num_queries": 4})[0]
    assert "- title: Samsung Flex Duo" in text and "product uid" not in text
    assert "Write 4 different queries" in text


def test_user_summary_shows_the_most_recent_ratings_oldest_first(project: Path) -> None:
    text = render(project, "movielens_user_summaries.yaml", 1)[0]
    lines = [line for line in text.splitlines() if line[:1].isdigit()]
    assert len(lines) == 15  # history_n of the job; the user has 20
    assert lines[0] == "1. Zombieland (2009) | 3.0 stars | genres: Action, Comedy, Horror"
    assert lines[1].startswith("2. Step Brothers (2008) | 5.0 stars | genres: Comedy; tags: ")
    assert lines[-1].startswith("15. Town, The (2010) | 4.5 stars")
    assert "Rated low: The Drop (2014)" in text


def test_user_summary_history_that_is_not_a_list_fails_the_row(project: Path) -> None:
    plan = RunPlan.build(load_job(project / "jobs" / "movielens_user_summaries.yaml"))
    plan.task.prepare(plan, None)  # type: ignore[arg-type]
    with pytest.raises(RenderError, match="not a list"):
        plan.task.variables({"user_id": 9, "history": None})
    with pytest.raises(ConfigError, match="no column `history`"):
        plan.task.variables({"user_id": 9})


def test_bad_match_shows_query_and_product(project: Path) -> None:
    first, second = render(project, "homedepot_match_labels.yaml", 2)
    assert "Search query: 1/2 sharkbite coupling" in first
    assert "Result: SharkBite 1/2 in. Brass PEX Barb x Female Copper Sweat Adapter" in first
    assert "Result: SharkBite 12-Port PEX Manifold" in second
    user = render(project, "homedepot_match_labels.yaml", 1,
                  **{"task_options.subject": "user"})[0]
    assert "User interests: 1/2 sharkbite coupling" in user and "Search query" not in user


def test_bad_match_unknown_column_is_a_config_error(project: Path) -> None:
    with pytest.raises(ConfigError, match="item_text_columns"):
        render(project, "homedepot_match_labels.yaml", 1,
               **{"task_options.item_text_columns": ["description"]})


def test_query_understanding_with_rag_context(project: Path) -> None:
    text = render(project, "homedepot_query_parses.yaml", 1)[0]
    assert text.endswith('Analyse this query: "1/2 sharkbite coupling"')
    context = [line for line in text.splitlines() if line.startswith("- SharkBite")]
    assert len(context) == 3  # k = 3 BM25 matches from the catalogue


def test_query_understanding_keeps_the_raw_query_without_rag(project: Path) -> None:
    texts = render(project, "wands_query_parses.yaml", 2)
    assert texts[1] == 'Analyse this query: "gurney  slade 56"'  # double space kept
    assert "Catalogue items" not in texts[0]


def test_unknown_task_option_names_the_option(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"task_options\.top_k: unknown option"):
        render(project, "homedepot_synthetic_queries.yaml", 1, **{"task_options.top_k": 3})
