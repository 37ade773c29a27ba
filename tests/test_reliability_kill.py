"""Kill anywhere, resume: no record lost or repeated, the trajectory agrees, no orphans."""
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.reliability import ROOT, campaign, check_log, kill_after_records, run_all, sim_study, trajectory_ids
from parser import log


@pytest.mark.slow
def test_a_dozen_random_kills_and_resumes_lose_nothing_and_leave_no_orphans(tmp_path):
    """bench/reliability.py's campaign with fewer kills: 12 at random moments of two simulated
    studies and 1 inside a training run (BENCHMARKS has the full 32 + 4)."""
    counts = run_all(tmp_path, trials=12, train_trials=1, seed=7)
    print(dict(counts))
    # kill moments come from the study's own progress, so (unlike fixed delays) they land
    # before the study ends on a fast machine and a slow one alike
    assert counts["kills"] >= 12 and counts["orphans"] == 0
    assert counts["window: during a run"] >= 1  # the training kills land in training


def test_a_torn_last_line_from_a_crash_mid_append_is_ignored_and_the_study_resumes(tmp_path):
    run_dir, extra = sim_study(tmp_path, "sim")
    extra = [*extra[:-4], "--max-experiments", "6"]
    hypothesis = ROOT / "examples" / "quickstart.yaml"
    first = subprocess.run([sys.executable, "loop.py", "--hypothesis", str(hypothesis), "--out", str(run_dir),
                            *extra[:4], "--max-experiments", "4"], cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    path = run_dir / log.LOG_NAME
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:-2]) + b"\n" + lines[-3][: len(lines[-3]) // 2])  # a torn copy of a record
    assert len(log.experiments(log.replay(path))) == 4
    counts = campaign(run_dir, hypothesis, extra, 0, kill_after_records, seed=0)
    assert counts["experiments"] == 6 and counts["orphans"] == 0
    assert trajectory_ids(run_dir) == check_log(run_dir) == [f"exp_{i:04d}" for i in range(1, 7)]


def test_killing_the_loop_alone_kills_a_command_backend_run_in_its_own_session(tmp_path):
    from tests.test_loop import TINY_STUDY
    hypothesis = tmp_path / "tiny.yaml"
    hypothesis.write_text(TINY_STUDY)
    marker = "reliability-sleeper-" + str(os.getpid())
    proc = subprocess.Popen([sys.executable, "loop.py", "--hypothesis", str(hypothesis), "--out",
                             str(tmp_path / "run"), "--executor", "command", "--command",
                             f"{sys.executable} -c 'import time; time.sleep(120)' {marker}"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _pids_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _pids_with(marker), "the training command never started"
        proc.kill()  # the loop only: the command runs in a session of its own
        proc.wait()
        deadline = time.monotonic() + 5
        while _pids_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _pids_with(marker)
    finally:
        for pid in _pids_with(marker):
            os.kill(pid, signal.SIGKILL)


def _pids_with(text: str) -> list[int]:
    pids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[0]
            if stat != "Z" and text.encode() in open(f"/proc/{entry}/cmdline", "rb").read():
                pids.append(int(entry))
        except OSError:
            pass
    return pids
