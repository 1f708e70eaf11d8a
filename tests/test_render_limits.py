"""Rendering is bounded in time and size: a template that loops for ever or builds a huge
string fails its row (``render_limit``), quickly, and never the run; ordinary templates render
exactly as Jinja2's sandbox renders them."""

import asyncio
import time
from pathlib import Path

import pytest
from conftest import BASIC_JOB, write_job
from fakes import FakeBackend
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from enrich.jobs import load_job
from enrich.plan import RunPlan
from enrich.prompts import PromptFile, RenderError, RenderLimit, shown_value
from enrich.runner import Runner
from enrich.store import Store

HOSTILE = {
    "nested loops printing": "{% for i in range(100000) %}{% for j in range(100000) %}x"
                             "{% endfor %}{% endfor %}",
    "nested loops silent": "{% for i in range(100000) %}{% for j in range(100000) %}"
                           "{% endfor %}{% endfor %}",
    "loop over a row value": "{% for a in range(100000) %}{% for b in title * 1000 %}"
                             "{% endfor %}{% endfor %}",
    "string times a billion": "{{ 'x' * 10**9 }}",
    "list times a billion": "{{ ([1] * 10**9)|length }}",
    "huge power": "{{ 2 ** (10**9) }}",
    "power tower": "{{ 10 ** (10 ** (10 ** 10)) }}",
    "doubling with ~": "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
                       "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "doubling with +": "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
                       "{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "center filter": "{{ title|center(10**9) }}",
    "indent filter": "{{ 'a\nb'|indent(10**9) }}",
    "ljust method": "{{ title.ljust(10**9) }}",
    "% width": "{{ '%0999999999d' % 1 }}",
    "% width from an argument": "{{ '%*d' % (10**9, 1) }}",
    "format filter width": "{{ '%0999999999d'|format(1) }}",
    "replace blow-up": "{% set a = 'x' * 20000000 %}{{ a|replace('x', 'yyy') }}",
    "replace method": "{% set a = 'x' * 20000 %}{{ a.replace('x', a) }}",
    "output over the size limit": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
}


@pytest.mark.parametrize("template", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_template_fails_fast_with_a_clear_message(template: str) -> None:
    prompt = PromptFile(name="bad", schema="S", user=template)
    started = time.perf_counter()
    with pytest.raises(RenderLimit, match=r"prompt `bad`: (rendering took over 0.3 s|"
                                          r".* is over the limit of|the rendered prompt "
                                          r"passed|the result of `\*\*` would be over)"):
        prompt.render({"title": "Heat", "row": {}}, max_seconds=0.3, max_chars=50_000_000)
    assert time.perf_counter() - started < 0.3 + 1.5


def test_the_default_limits_are_two_seconds_and_32_million_characters() -> None:
    prompt = PromptFile(name="bad", schema="S", user=HOSTILE["nested loops silent"])
    started = time.perf_counter()
    with pytest.raises(RenderLimit, match="rendering took over 2 s"):
        prompt.render({})
    assert 2.0 <= time.perf_counter() - started < 3.5
    big = PromptFile(name="big", schema="S", user="{{ 'x' * 32000001 }}")
    with pytest.raises(RenderLimit, match="32,000,001 characters"):
        big.render({})
    assert len(PromptFile(name="ok", schema="S", user="{{ 'x' * 32000000 }}").render(
        {})[0]["content"]) == 32_000_000


def test_a_template_error_is_still_a_render_error_not_a_limit() -> None:
    prompt = PromptFile(name="p", schema="S", user="{{ 1 / zero }}")
    with pytest.raises(RenderError) as caught:
        prompt.render({"zero": 0})
    assert not isinstance(caught.value, RenderLimit)
    assert "ZeroDivisionError" in str(caught.value)


ORDINARY = [
    "Item: {{ title }}{% if year is defined and year %} ({{ year }}){% endif %}",
    "{% for g in genres.split('|') %}{{ loop.index }}. {{ g|upper }}\n{% endfor %}",
    "{{ title ~ ' / ' ~ tags }} {{ (title * 3)|length }} {{ '%s-%05d' % (title, 42) }}",
    "{{ row|tojson }} {{ options.get('n', 3) * 2 }} {{ 2 ** 10 }} {{ title|center(30) }}",
    "{% for k, v in row|dictsort %}{{ k }}={{ v|replace('a', 'AA')|truncate(20) }};"
    "{% else %}none{% endfor %}{{ tags|wordwrap(10) }}{{ tags|indent(2) }}",
]
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(title=_TEXT, year=st.one_of(st.none(), st.integers(1900, 2030).map(str)),
       genres=_TEXT, tags=_TEXT, template=st.sampled_from(ORDINARY))
def test_ordinary_templates_render_exactly_as_the_plain_sandbox(
        title: str, year: str | None, genres: str, tags: str, template: str) -> None:
    row = {"title": title, "year": year, "genres": genres, "tags": tags}
    variables = {**row, "row": row, "options": {}}
    plain = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                          trim_blocks=True, lstrip_blocks=True,
                                          finalize=shown_value)
    expected = plain.from_string(template).render(variables).strip()
    [message] = PromptFile(name="p", schema="S", user=template).render(variables)
    assert message == {"role": "user", "content": expected}


LOOPING_ROWS_PROMPT = """name: loops
schema: ItemMetadata
user: |
  {{ title }}{% if movie_id in ['1', '4'] %}{% for i in range(100000) %}
  {% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}
"""


def test_a_looping_row_fails_alone_even_the_first_and_the_run_finishes(project: Path) -> None:
    (project / "prompts" / "loops.yaml").write_text(LOOPING_ROWS_PROMPT, encoding="utf-8")
    job = load_job(write_job(project, BASIC_JOB.replace("prompt: item_metadata",
                                                        "prompt: loops")))
    backend = FakeBackend()
    started = time.perf_counter()
    with Store(project / "enrich.duckdb") as store:
        summary = asyncio.run(Runner(RunPlan.build(job, store), store, backend).run())
        failures = store.sql("SELECT row_id, error_kind, message FROM failures "
                             "ORDER BY row_id").fetchall()
    assert time.perf_counter() - started < 2 * 2 + 5
    assert (summary.status, summary.ok, summary.failed) == ("finished", 3, 2)
    assert [(row, kind) for row, kind, _ in failures] == [("1", "render_limit"),
                                                          ("4", "render_limit")]
    assert failures[0][2] == ("row 1: prompt `loops`: rendering took over 2 s (a loop that "
                              "does not end?)")
    assert sorted(r.row_id for r in backend.requests) == ["2", "3", "5"]
    again = FakeBackend()  # a render limit is the row's own: a plain rerun keeps it
    with Store(project / "enrich.duckdb") as store:
        rerun = asyncio.run(Runner(RunPlan.build(job, store), store, again).run())
    assert (rerun.failed, sum(again.calls.values())) == (2, 0)
