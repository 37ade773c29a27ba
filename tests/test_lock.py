"""run_dir/.lock: one loop per study, taken over from a killed loop, gone after every other stop."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parser.schema import Hypothesis
from planner.space import Space
from tests.records import comparison
from tests.test_reliability_kill import _pids_with
from trajectory import runlock
from trajectory.study import StudyError, open_study

ROOT = Path(__file__).resolve().parent.parent
GRID = {"model": ["transformer_small"], "dataset": ["synthetic"], "norm_position": ["pre", "post"]}
SIM = ["--executor", "sim", "--sim", str(ROOT / "examples" / "sim_truth.yaml")]
QUICKSTART = str(ROOT / "examples" / "quickstart.yaml")


def _open(run_dir, resume=False):
    h = Hypothesis(claim="pre-norm helps", predictions=[comparison()], initial_config=GRID)
    study = open_study(run_dir, h, Space(dict(GRID)), "", resume=resume)
    study.log_path.touch()  # a study to resume, even before its first run
    return study


def test_closing_a_study_removes_its_lock_file(tmp_path):
    study = _open(tmp_path / "run")
    assert (tmp_path / "run" / ".lock").read_text() == f"pid {os.getpid()}\n"
    study.close()
    assert not (tmp_path / "run" / ".lock").exists()
    _open(tmp_path / "run", resume=True).close()  # and the study can be opened again


def test_a_lock_file_left_by_a_killed_loop_is_taken_over_and_the_loop_says_so(tmp_path, capsys):
    _open(tmp_path / "run").close()
    (tmp_path / "run" / ".lock").write_text("pid 4194000\n")  # no process holds its flock
    study = _open(tmp_path / "run", resume=True)
    try:
        assert "was left by pid 4194000, which no longer holds it" in capsys.readouterr().err
        assert (tmp_path / "run" / ".lock").read_text() == f"pid {os.getpid()}\n"
    finally:
        study.close()


def test_a_second_opener_is_refused_while_the_first_holds_the_study(tmp_path):
    study = _open(tmp_path / "run")
    try:
        with pytest.raises(StudyError, match=f"being run by pid {os.getpid()}; one study takes one loop"):
            _open(tmp_path / "run", resume=True)
    finally:
        study.close()


def test_a_locker_that_opened_the_file_just_before_its_owner_removed_it_does_not_take_the_study(
        tmp_path, monkeypatch):
    """B opens .lock; A stops (removing it) and C takes the study (a new .lock); only then does
    B's flock run, on the removed file, and succeed. B must see that and find C there."""
    run = tmp_path / "run"
    first = _open(run)
    real_flock, third = runlock.fcntl.flock, []

    def flock_after_the_owner_left(handle, how):
        if not third:  # B's first flock: before it lands, A stops and C opens the study
            third.append(None)
            first.close()
            third[0] = _open(run, resume=True)
        return real_flock(handle, how)

    monkeypatch.setattr(runlock.fcntl, "flock", flock_after_the_owner_left)
    try:
        with pytest.raises(StudyError, match="one study takes one loop at a time"):
            _open(run, resume=True)  # B
        assert (run / ".lock").exists()  # C's, untouched by B
    finally:
        monkeypatch.undo()
        third[0].close()
    assert not (run / ".lock").exists()


def _loop(*args, **kw):
    return subprocess.run([sys.executable, str(ROOT / "loop.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, **kw)


def test_no_lock_file_is_left_after_a_clean_stop(tmp_path):
    done = _loop("--hypothesis", QUICKSTART, *SIM, "--max-experiments", 4, "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "research_log.jsonl").exists() and not (tmp_path / "run" / ".lock").exists()


def test_no_lock_file_is_left_after_an_error_exit(tmp_path):
    """The loop itself fails mid-study (here its planner raises): a traceback, exit 1, no lock."""
    crash = ("import sys, loop; from planner.offline import OfflinePlanner\n"
             "def propose(*a, **k): raise RuntimeError('planner fell over')\n"
             "OfflinePlanner.propose = propose\n"
             "sys.exit(loop.main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", crash, "--hypothesis", QUICKSTART, *SIM, "--out",
                           str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "planner fell over" in done.stderr
    assert (tmp_path / "run" / "hypothesis.yaml").exists()  # written once the lock was taken
    assert not (tmp_path / "run" / ".lock").exists()


def _sleeping_loop(tmp_path, marker):
    """A loop whose first run sleeps (the command backend); returns once that run has started."""
    from tests.test_loop import TINY_STUDY
    (tmp_path / "tiny.yaml").write_text(TINY_STUDY)
    proc = subprocess.Popen([sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(tmp_path / "tiny.yaml"),
                             "--out", str(tmp_path / "run"), "--executor", "command", "--command",
                             f"{sys.executable} -c 'import time; time.sleep(120)' {marker}"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sleeper = lambda: [pid for pid in _pids_with(marker) if pid != proc.pid]  # noqa: E731 (the loop's argv has it too)
    deadline = time.monotonic() + 120
    while not sleeper() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert sleeper(), "the run never started"
    return proc


@pytest.mark.parametrize("stop", ["ctrl-c", "kill", "kill -9"])
def test_after_ctrl_c_or_kill_no_lock_is_left_and_after_kill_9_the_next_loop_takes_it_over(tmp_path, stop):
    marker = f"lock-sleeper-{os.getpid()}-{stop.replace(' ', '')}"
    proc = _sleeping_loop(tmp_path, marker)
    try:
        proc.send_signal({"ctrl-c": signal.SIGINT, "kill": signal.SIGTERM, "kill -9": signal.SIGKILL}[stop])
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        for pid in _pids_with(marker):
            os.kill(pid, signal.SIGKILL)
    lock = tmp_path / "run" / ".lock"
    if stop != "kill -9":
        assert (proc.returncode, stop) in ((130, "ctrl-c"), (143, "kill"))
        assert ("interrupted by the user" if stop == "ctrl-c" else "stopped by a SIGTERM") in err
        assert "resume with: python loop.py --resume" in err
        assert not lock.exists()
        return
    assert lock.read_text() == f"pid {proc.pid}\n"  # a kill leaves the file; its flock died
    again = _loop("--hypothesis", tmp_path / "tiny.yaml", "--out", tmp_path / "run", *SIM, "--max-experiments", 0)
    assert again.returncode == 0, again.stderr
    assert f"was left by pid {proc.pid}, which no longer holds it (a killed loop?); taking it over" in again.stderr
    assert not lock.exists()
