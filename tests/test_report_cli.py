"""python -m trajectory.report RUN_DIR [--status]: see a study without running it."""
from parser import log
from parser.hypothesis import load_hypothesis, search_space
from parser.schema import StopRecord
from planner.space import Space
from tests.sim_study import copy_of, finished_study
from trajectory import report
from trajectory.study import open_study


def test_the_command_rebuilds_every_report_and_prints_the_tree_and_verdicts(tmp_path, capsys):
    run = copy_of(finished_study(), tmp_path / "run", only_log=True)
    capsys.readouterr()  # the shared study's own output, when this test is the first to run it
    assert report.main([str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Hypothesis H1:") and "\np1: " in out and "\np2: " in out
    assert all((run / name).exists() for name in ("report.md", "report.tex", "dashboard.html"))


def stopped(run) -> str:
    """Why the logged study stopped, as its stop record says."""
    return [r for r in log.replay(run / log.LOG_NAME) if isinstance(r, StopRecord)][-1].reason


def test_status_prints_the_state_and_writes_nothing(tmp_path, capsys):
    run = copy_of(finished_study(), tmp_path / "run", only_log=True)
    capsys.readouterr()
    assert report.main([str(run), "--status"]) == 0
    out = capsys.readouterr().out
    assert f"Stopped: {stopped(run)}" in out and "\np1: " in out
    assert sorted(p.name for p in run.iterdir()) == ["hypothesis.yaml", "research_log.jsonl"]


def test_status_says_running_while_a_loop_holds_the_study(tmp_path, capsys):
    run = copy_of(finished_study(), tmp_path / "run")
    h = load_hypothesis(run / "hypothesis.yaml")
    study = open_study(run, h, Space(search_space(h)), "", resume=True)
    try:
        assert report.main([str(run), "--status"]) == 0
    finally:
        study.close()
    assert f"running ({len(log.experiments(log.replay(run / log.LOG_NAME)))} runs so far)" in capsys.readouterr().out


def test_rebuilding_a_study_that_a_loop_holds_is_refused(tmp_path, capsys):
    run = copy_of(finished_study(), tmp_path / "run")
    h = load_hypothesis(run / "hypothesis.yaml")
    study = open_study(run, h, Space(search_space(h)), "", resume=True)
    try:
        assert report.main([str(run)]) == 2
    finally:
        study.close()
    assert "one study takes one loop at a time" in capsys.readouterr().err


def test_a_directory_without_a_study_is_an_error(tmp_path, capsys):
    assert report.main([str(tmp_path), "--status"]) == 2
    assert "holds no study" in capsys.readouterr().err
