"""The collector's thresholds during a run: raised while requests are answered, restored after
(also when the run fails), left alone when switched off."""

import gc
from pathlib import Path

import pytest
from conftest import BASIC_JOB
from fakes import FakeBackend, valid_item_metadata
from test_runner import run_job

from enrich.backends.base import LLMRequest, LLMResult
from enrich.gc_pacing import configured_young, paced_collections
from enrich.settings import EnrichSettings


def _recording(seen: list[int], fail: bool = False) -> FakeBackend:
    def answer(request: LLMRequest) -> LLMResult:
        seen.append(gc.get_threshold()[0])
        if fail:
            raise RuntimeError("backend bug")
        return valid_item_metadata(request)
    return FakeBackend(answer)


@pytest.fixture()
def default_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("default_thresholds")
def test_a_run_collects_less_often_and_puts_the_thresholds_back(project: Path) -> None:
    seen: list[int] = []
    summary = run_job(project, _recording(seen), gc_young=12_345)
    assert summary.ok == 5
    assert seen and set(seen) == {12_345}
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.usefixtures("default_thresholds")
def test_switched_off_the_interpreter_keeps_its_thresholds(project: Path) -> None:
    seen: list[int] = []
    run_job(project, _recording(seen), gc_young=None)
    assert set(seen) == {700}


@pytest.mark.usefixtures("default_thresholds")
def test_thresholds_come_back_when_the_run_fails(project: Path) -> None:
    seen: list[int] = []
    with pytest.raises(Exception):  # noqa: B017 - whatever the runner makes of a backend bug
        run_job(project, _recording(seen, fail=True), BASIC_JOB, gc_young=50_000)
    assert set(seen) == {50_000}
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.usefixtures("default_thresholds")
def test_a_lower_value_never_makes_collections_more_frequent() -> None:
    gc.set_threshold(20_000, 10, 10)
    with paced_collections(1_000):
        assert gc.get_threshold()[0] == 20_000
    assert gc.get_threshold() == (20_000, 10, 10)


def test_the_setting_comes_from_enrich_gc_young(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICH_GC_YOUNG", "0")
    assert EnrichSettings().gc_young == 0
    monkeypatch.setenv("ENRICH_GC_YOUNG", "-5")
    with pytest.raises(Exception, match="ENRICH_GC_YOUNG"):
        EnrichSettings()


@pytest.mark.parametrize(("value", "young"), [("", 10_000), ("0", None), ("25000", 25_000),
                                              ("lots", 10_000)])
def test_the_command_line_reads_the_variable_before_its_settings(value: str,
                                                                 young: int | None) -> None:
    assert configured_young({"ENRICH_GC_YOUNG": value} if value else {}) == young


@pytest.mark.usefixtures("default_thresholds")
def test_the_command_paces_its_whole_process_and_restores_it(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    from enrich import cli

    seen: list[int] = []
    monkeypatch.setattr(cli, "app", lambda **_: seen.append(gc.get_threshold()[0]) or 0)
    monkeypatch.setenv("ENRICH_GC_YOUNG", "30000")
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code in (0, None)
    assert seen == [30_000] and gc.get_threshold() == (700, 10, 10)
