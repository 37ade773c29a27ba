"""End to end: the real CLI, real (tiny) training on CPU, the files a user reads."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TINY_STUDY = """
hypothesis:
  claim: "Pre-norm converges faster than post-norm on a tiny synthetic language"
  predictions:
    - "Val loss converges 20% faster with pre-norm vs post-norm at N < 1000 samples"
    - "Effect diminishes at N > 2000 samples"
  initial_config:
    model: transformer_tiny
    dataset: synthetic
    norm_position: [pre, post]
    learning_rate: [3e-3]
    dataset_fraction: [0.1, 1.0]
    seq_len: 32
    batch_size: 8
    max_steps: 40
    eval_interval: 10
    eval_batches: 2
"""


def loop(*args, **kw):
    return subprocess.run([sys.executable, str(ROOT / "loop.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=kw.get("cwd", ROOT))


def records(run_dir):
    lines = (run_dir / "research_log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def experiments(run_dir):
    return [r for r in records(run_dir) if r.get("record") == "experiment"]


@pytest.fixture
def study(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_STUDY)
    return path


@pytest.mark.slow
def test_a_study_trains_for_real_and_stops_with_a_logged_reason(study, tmp_path):
    run_dir = tmp_path / "run"
    done = loop("--hypothesis", study, "--max-experiments", 4, "--out", run_dir)
    assert done.returncode == 0, done.stderr
    exps = experiments(run_dir)
    assert [e["experiment_id"] for e in exps] == ["exp_0001", "exp_0002", "exp_0003", "exp_0004"]
    assert all(e["status"] == "completed" and e["metrics"]["final_val_loss"] > 0 for e in exps)
    assert exps[0]["seed"] == exps[1]["seed"]  # the two arms of a pair share the seed
    assert {exps[0]["config"]["norm_position"], exps[1]["config"]["norm_position"]} == {"pre", "post"}
    stop = records(run_dir)[-1]
    assert stop["record"] == "stop" and stop["n_experiments"] == 4
    graph = json.loads((run_dir / "trajectory.json").read_text())
    assert len(graph["experiments"]) == 4
    assert all(len(p["history"]) == 4 for p in graph["predictions"])
    assert graph["stop_reason"] == stop["reason"]
    assert "Hypothesis H1" in done.stdout and f"Stopped: {stop['reason']}" in done.stdout
    for name in ("configs/exp_0001.py", "configs/exp_0001.json", "logs/exp_0001.out",
                 "metrics/exp_0001.json", "hypothesis.yaml"):
        assert (run_dir / name).exists(), name


@pytest.mark.slow
def test_a_killed_study_resumes_without_repeating_finished_runs(tmp_path):
    # what is checked is the log across a kill and a resume, not what the runs learn, so
    # runs of 10 steps: still far longer than the 0.1 s poll, so the kill lands mid-study
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY_STUDY.replace("max_steps: 40", "max_steps: 10"))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(study),
                             "--max-experiments", "6", "--out", str(run_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        log = run_dir / "research_log.jsonl"
        if log.exists() and len(log.read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [e["experiment_id"] for e in experiments(run_dir)]
    assert 3 <= len(before) < 6

    done = loop("--resume", run_dir, "--max-experiments", 6)
    assert done.returncode == 0, done.stderr
    exps = experiments(run_dir)
    ids = [e["experiment_id"] for e in exps]
    assert ids[: len(before)] == before and len(ids) == len(set(ids)) == 6
    runs = [(e["config_hash"], e["seed"]) for e in exps]
    assert len(runs) == len(set(runs))  # no finished run was repeated


def test_a_bad_hypothesis_exits_2_naming_the_field_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_STUDY.replace("transformer_tiny", "transformer_huge"))
    done = loop("--hypothesis", bad, "--out", tmp_path / "run")
    assert done.returncode == 2
    assert "bad.yaml" in done.stderr and "model" in done.stderr and "transformer_huge" in done.stderr
    assert not (tmp_path / "run").exists()


def test_an_existing_study_is_not_overwritten_without_resume(study, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "research_log.jsonl").write_text("")
    done = loop("--hypothesis", study, "--out", run_dir)
    assert done.returncode == 2 and "--resume" in done.stderr
    assert (run_dir / "research_log.jsonl").read_text() == ""


def test_resuming_a_directory_without_a_study_is_an_error(tmp_path):
    done = loop("--resume", tmp_path / "nothing-here")
    assert done.returncode == 2 and "nothing to resume" in done.stderr


def test_the_command_backend_runs_a_study_through_the_user_script(study, tmp_path):
    run_dir = tmp_path / "run"
    command = f"{sys.executable} {ROOT / 'examples' / 'train_command.py'}"
    done = loop("--hypothesis", study, "--executor", "command", "--command", command,
                "--max-experiments", 6, "--out", run_dir)
    assert done.returncode == 0, done.stderr
    exps = experiments(run_dir)
    assert exps and all(e["status"] == "completed" for e in exps)


def test_a_failing_run_is_recorded_and_the_study_goes_on(study, tmp_path):
    run_dir = tmp_path / "run"
    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nprint('error: out of cheese', file=sys.stderr)\nsys.exit(1)\n")
    done = loop("--hypothesis", study, "--executor", "command", "--command",
                f"{sys.executable} {crash}", "--max-experiments", 3, "--out", run_dir)
    assert done.returncode == 0, done.stderr
    exps = experiments(run_dir)
    assert len(exps) == 3
    assert all(e["status"] == "failed" and "out of cheese" in e["error"] for e in exps)


def test_a_second_loop_on_the_same_study_is_refused_while_the_first_runs(study, tmp_path):
    run_dir = tmp_path / "run"
    first = subprocess.Popen([sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(study),
                              "--max-experiments", "40", "--out", str(run_dir), "--executor", "command",
                              "--command", f"{sys.executable} -c 'import time; time.sleep(60)'"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "configs").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = loop("--hypothesis", study, "--out", run_dir)
        assert second.returncode == 2 and "one study takes one loop at a time" in second.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # the lock died with the first loop: the study can be taken up again
    third = loop("--hypothesis", study, "--out", run_dir, "--max-experiments", 0)
    assert third.returncode == 0, third.stderr


def test_a_bad_backend_setting_exits_2_and_writes_nothing(study, tmp_path):
    truth = tmp_path / "truth.yaml"
    truth.write_text("curve: 5\n")
    done = loop("--hypothesis", study, "--executor", "sim", "--sim", truth, "--out", tmp_path / "run")
    assert done.returncode == 2 and "truth.yaml" in done.stderr and "curve" in done.stderr
    assert not (tmp_path / "run").exists()
