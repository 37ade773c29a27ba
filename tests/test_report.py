"""report.md and report.tex: written when a study stops, rebuilt from the log alone."""
import re
import shutil
import subprocess

import pytest

from parser.hypothesis import load_hypothesis, search_space
from planner.space import Space
from tests.sim_study import copy_of, finished_study
from trajectory import document, report
from trajectory.study import open_study


def test_a_finished_study_leaves_report_md_and_report_tex():
    run = finished_study()
    assert (run / "report.md").read_text().startswith("# Study report: H1")
    assert "\\begin{document}" in (run / "report.tex").read_text()


def test_rebuilding_from_the_log_alone_gives_the_same_report_md(tmp_path):
    run = finished_study()
    fresh = copy_of(run, tmp_path / "fresh", only_log=True)
    report.rebuild(fresh)
    assert (fresh / "report.md").read_text() == (run / "report.md").read_text()


def test_the_report_shows_each_prediction_with_verdict_interval_e_value_and_definition():
    text = (finished_study() / "report.md").read_text()
    assert "**p1 (H1):** Val loss converges 20% faster" in text
    assert "e-value " in text and re.search(r"Found: pre/post steps_to_target \d\.\d\d× \[\d\.\d\d, \d\.\d\d\]; "
                                            r"needs < 0\.80", text)
    assert "`steps_to_target[pre] / steps_to_target[post] < 0.8 (paired by seed" in text


def test_the_stop_line_comes_from_the_log_not_the_clock():
    stop = report.last_stop(finished_study())
    assert f"finished {stop.finished_at}" in (finished_study() / "report.md").read_text()


def test_the_experiments_table_shows_only_the_factors_that_vary():
    text = (finished_study() / "report.md").read_text()
    assert "| exp_0001 | norm_position=pre, learning_rate=0.001, dataset_fraction=0.1 | 0 | completed |" in text


def test_a_rebuild_gives_the_lock_back(tmp_path):
    run = copy_of(finished_study(), tmp_path / "run")
    report.rebuild(run)
    h = load_hypothesis(run / "hypothesis.yaml")
    open_study(run, h, Space(search_space(h)), "", resume=True).close()


def test_latex_escapes_every_special_character_of_user_text():
    assert document.escape("50% a_b & #1 $x {y} ~ ^ \\") == \
        r"50\% a\_b \& \#1 \$x \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}"


def test_trajectory_lists_refinements_children_and_space_extensions_with_reasons():
    graph = {"predictions": [{"id": "p3", "parent": "p1", "after": "exp_0008", "reason": "effect is 12%"}],
             "hypotheses": [{"id": "H1", "parent": None},
                            {"id": "H1.1", "parent": "H1", "after": "exp_0010", "claim": "c", "reason": "lr matters"}],
             "space_extensions": [{"factor": "seq_len", "value": 32, "after": None, "reason": "reach N"}]}
    items = document.trajectory_items(graph)
    assert items == ["p3 refines p1 after exp_0008: effect is 12%",
                     "H1.1 (child of H1, after exp_0010): c -- lr matters", "space: seq_len gained 32: reach N"]


def test_report_tex_compiles_with_pdflatex(tmp_path):
    if not shutil.which("pdflatex"):
        pytest.skip("pdflatex is not installed (TeX is too big to install for a test)")
    run = copy_of(finished_study(), tmp_path / "run")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                          cwd=run, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-2000:]
