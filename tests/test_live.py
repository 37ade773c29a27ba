import io

from rich.console import Console

from parser.checker.verdicts import Verdict
from tests.records import record
from trajectory.live import LiveView, PlainView, QuietView, make_view, progress

OUT = "step 0 | train 3.0000 | val 3.1000 | 0.0s\nstep 100 | train 2.5000 | val 2.6000 | 10.0s\n"


def test_progress_is_read_from_the_last_step_line_of_the_run_output(tmp_path):
    out = tmp_path / "exp_0001.out"
    out.write_text(OUT)
    step, val, eta = progress(out, 300)
    assert (step, val) == (100, 2.6) and eta == 20.0


def test_no_output_yet_means_no_progress(tmp_path):
    assert progress(tmp_path / "missing.out", 300) is None


def test_a_pipe_gets_one_plain_line_per_run_with_budget_and_verdicts():
    stream = io.StringIO()
    view = make_view(quiet=False, stream=stream)
    assert isinstance(view, PlainView) and not isinstance(view, LiveView)
    view.end_run(record("exp_0003", "pre", 0, loss=2.5), {"p1": Verdict("p1", "undecided", 0.7)}, 3, 20)
    line = stream.getvalue()
    assert line.startswith("exp_0003 completed") and "[3/20]" in line and "p1 undecided 0.70" in line


def test_quiet_prints_nothing_per_run():
    stream = io.StringIO()
    view = make_view(quiet=True, stream=stream)
    assert isinstance(view, QuietView)
    view.end_run(record("exp_0001", "pre", 0), {}, 1, 20)
    assert stream.getvalue() == ""


def test_the_live_panel_shows_the_running_step_the_budget_and_each_prediction(tmp_path):
    out = tmp_path / "exp_0002.out"
    out.write_text(OUT)
    view = LiveView(io.StringIO())
    try:
        view.verdicts = {"p1": Verdict("p1", "undecided", 0.93, evidence=4.2)}
        view.start_run("exp_0002", out, 300, 1, 20)
        screen = io.StringIO()
        Console(file=screen, width=120).print(view._render())
    finally:
        view.close()
    text = screen.getvalue()
    assert "experiments 1/20" in text and "step 100/300" in text and "ETA 20s" in text
    assert "p1" in text and "0.93 undecided" in text and "e-value 4.2 for the claim" in text
