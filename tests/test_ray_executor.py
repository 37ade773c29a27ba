"""The Ray backend beyond the shared contract (tests/test_executor_contract.py): a trainer's
failure is a result and is not resubmitted, a run lost with its worker is, close() cancels
what is in flight."""
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from executor.base import RunPaths
from run_config import TrainConfig
from executor.ray_backend import RayExecutor
ROOT = Path(__file__).resolve().parent.parent

TINY = dict(model="transformer_tiny", dataset="synthetic", seq_len=32, batch_size=4,
            max_steps=5, eval_interval=5, eval_batches=1, threads=1)
HANG = dict(max_steps=10**9, eval_interval=10**8)
# Nothing here is about the machine's speed: a run that should finish, or a process these
# tests wait for, gets far longer than any loaded machine needs.
NO_LIMIT = 3600.0


@pytest.fixture
def executor(ray_instance):
    executor = RayExecutor()
    yield executor
    executor.close()


def config(paths: RunPaths, eid: str = "exp_0001", **overrides) -> TrainConfig:
    return TrainConfig(experiment_id=eid, metrics_path=str(paths.metrics(eid)), **dict(TINY, **overrides))


def in_thread(executor, config, paths, timeout=NO_LIMIT):
    return ThreadPoolExecutor(1).submit(executor.run, config, paths, timeout)


# --- what runs where -------------------------------------------------------------------

def trainers_of(eid: str) -> list[int]:
    """Pids of executor.train processes whose config (a node temp file) names `eid`."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and b"executor.train" in argv and any(eid.encode() in a for a in argv):
            pids.append(int(proc.name))
    return pids


def ray_worker_of(pid: int) -> int | None:
    """The Ray worker that started `pid`, or None (already reparented, or not Ray's)."""
    try:
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        argv = Path(f"/proc/{parent}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return parent if parent > 1 and (b"ray::" in argv or b"default_worker" in argv) else None


def wait_until(condition, within: float = NO_LIMIT) -> bool:
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def kill_workers(eid: str, times: int, within: float = NO_LIMIT) -> int:
    """SIGKILL the Ray worker running eid's trainer, once per attempt, `times` times."""
    seen, deadline = set(), time.monotonic() + within
    while len(seen) < times and time.monotonic() < deadline:
        for trainer in set(trainers_of(eid)) - seen:
            worker = ray_worker_of(trainer)
            if worker is not None:
                os.kill(worker, signal.SIGKILL)
                seen.add(trainer)
        time.sleep(0.05)
    return len(seen)


# --- the tests -------------------------------------------------------------------------

def test_a_bad_config_fails_as_the_trainer_said_and_is_not_resubmitted(executor, tmp_path):
    paths = RunPaths.under(tmp_path)
    result = executor.run(config(paths, seq_len=0), paths, NO_LIMIT)
    assert result.status == "failed" and result.returncode == 2 and result.cause == "error"
    assert "seq_len" in result.error
    assert result.attempts == 1
    assert not paths.metrics("exp_0001").exists()


def test_a_task_that_raises_fails_as_an_exception_and_is_not_resubmitted(executor, tmp_path):
    executor.root = str(tmp_path / "no-such-project")  # the node cannot start the trainer there
    paths = RunPaths.under(tmp_path)
    result = executor.run(config(paths), paths, NO_LIMIT)
    assert result.status == "failed" and result.cause == "exception" and result.attempts == 1
    assert "no-such-project" in result.error


def test_a_timed_out_run_takes_its_trainer_down_with_the_task(executor, tmp_path):
    paths = RunPaths.under(tmp_path)
    result = executor.run(config(paths, "exp_hang", **HANG), paths, 3)
    assert result.status == "timeout" and result.cause == "timeout"
    assert wait_until(lambda: not trainers_of("exp_hang"))


def test_a_run_lost_with_its_worker_is_resubmitted_under_the_same_id(executor, tmp_path):
    paths = RunPaths.under(tmp_path)
    future = in_thread(executor, config(paths, "exp_lost"), paths)
    assert kill_workers("exp_lost", times=1) == 1
    result = future.result()
    assert result.status == "completed", result.stderr_tail
    assert result.experiment_id == "exp_lost" and result.attempts == 2
    assert "attempt 1 of 3 was lost" in paths.err("exp_lost").read_text()
    assert json.loads(paths.metrics("exp_lost").read_text())["final_val_loss"] > 0
    from run_config import to_dict
    from parser.metrics import to_record

    cfg = to_dict(config(paths, "exp_lost"))
    assert to_record(result, cfg, {}, "").attempts == 2  # the log says it was resubmitted


def test_a_run_lost_on_every_attempt_fails_as_killed(ray_instance, tmp_path):
    executor, paths = RayExecutor(max_attempts=1), RunPaths.under(tmp_path)
    future = in_thread(executor, config(paths, "exp_doomed"), paths)
    assert kill_workers("exp_doomed", times=1) == 1
    result = future.result()
    assert result.status == "failed" and result.cause == "killed" and result.returncode is None
    assert "lost 1 time" in result.error and result.attempts == 1


def test_a_run_no_node_can_host_times_out_instead_of_waiting_forever(ray_instance, tmp_path):
    executor, paths = RayExecutor(queue_timeout_s=1), RunPaths.under(tmp_path)
    result = executor.run(config(paths, device="cuda"), paths, 1)  # the instance has no GPU
    assert result.status == "timeout" and result.cause == "timeout"
    assert "num_gpus=1" in result.error


def test_close_cancels_the_runs_in_flight(ray_instance, tmp_path):
    executor, paths = RayExecutor(), RunPaths.under(tmp_path)
    future = in_thread(executor, config(paths, "exp_cut", **HANG), paths)
    assert wait_until(lambda: trainers_of("exp_cut"))
    executor.close()
    result = future.result()
    assert result.status == "failed" and result.cause == "killed" and result.attempts == 1
    assert "cancelled" in result.error


def test_close_leaves_a_ray_instance_it_did_not_start_running(ray_instance):
    RayExecutor().close()
    assert ray_instance.is_initialized()


def test_ray_is_imported_only_when_the_backend_is_made_and_named_when_missing():
    code = ("import sys; import executor.ray_backend as rb; assert 'ray' not in sys.modules; "
            "sys.modules['ray'] = None\n"
            "try: rb.RayExecutor()\n"
            "except RuntimeError as e: print(e)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "pip install ray" in out.stdout


# --- the researcher's own script, from its run: section ----------------------------------

def test_a_run_section_runs_as_a_ray_task_in_its_workdir_with_its_own_run_dir(ray_instance, tmp_path):
    from run_config import RunSpec
    from tests.test_run_section import LINE, SCRIPT

    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "train.py").write_text(SCRIPT + "\nopen('here.txt', 'w').write('ran')\n")
    spec = RunSpec((sys.executable, "train.py", "--lr={lr}", "--seed={seed}", "--sleep=0.05", "--steps=400"),
                   str(tmp_path / "proj"), stdout=LINE, steps=None, grace_s=1.0, text="train.py")
    executor = RayExecutor(script=spec)
    paths = RunPaths.under(tmp_path / "run")
    try:
        first = TrainConfig(experiment_id="exp_0001", seed=3, user_factors={"lr": 0.5}, declared="lr", threads=1)
        stopped = TrainConfig(experiment_id="exp_0002", seed=3, user_factors={"lr": 0.5}, declared="lr", threads=1,
                              stop_at_loss=0.5)
        done = [executor.run(c, paths, NO_LIMIT) for c in (first, stopped)]
    finally:
        executor.close()
    assert [r.status for r in done] == ["completed", "completed"], done[0].error
    full, early = (json.loads(paths.metrics(e).read_text()) for e in ("exp_0001", "exp_0002"))
    assert full["steps"] == 400 and full["stopped_early"] is False and full["final_val_loss"] < 0.1
    assert early["stopped_early"] is True and early["steps"] < 400 and early["val_curve"][-1][1] <= 0.5
    assert (tmp_path / "proj" / "here.txt").exists()  # it ran in its workdir
    assert done[0].script["workdir"] == str(tmp_path / "proj")
