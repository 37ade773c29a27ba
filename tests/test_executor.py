"""One contract, every backend: completed, failed and timed-out runs come back as results."""
import sys
from pathlib import Path

import pytest

from executor.base import Executor, RunPaths
from executor.command import CommandExecutor
from run_config import TrainConfig
from executor.local import LocalExecutor
from executor.ray_backend import RayExecutor
from executor.sim import SimExecutor
from parser.metrics import read_metrics
from parser.sim_truth import Truth

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(model="transformer_tiny", dataset="synthetic", seq_len=16, batch_size=8,
            max_steps=20, eval_interval=10, eval_batches=2, threads=1)
# the simulator's failure rule stands in for the trainer's divergence at lr 1e4
SIM_TRUTH = Truth.model_validate({
    "curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3076},
    "noise": {"tau_shared": 0.3, "tau_arm": 0.05, "floor_arm": 0.005},
    "failures": {"learning_rate": {1e4: "loss diverged at step 1 (loss=nan)"}}})

BACKENDS = {
    "local-fork": lambda: LocalExecutor(fork=True),
    "local-spawn": lambda: LocalExecutor(fork=False),
    "command": lambda: CommandExecutor(f"{sys.executable} {ROOT / 'tests' / 'fake_train.py'}"),
    "sim": lambda: SimExecutor(SIM_TRUTH),
    "ray": RayExecutor,  # on the session's local Ray instance (conftest.ray_instance)
}


@pytest.fixture(scope="module", params=list(BACKENDS))
def backend_name(request):
    """Module-scoped so that pytest runs each backend's tests together (Ray's last, alone)."""
    return request.param


@pytest.fixture
def backend(backend_name, request):
    if backend_name == "ray":
        request.getfixturevalue("ray_instance")
    executor = BACKENDS[backend_name]()
    yield executor
    executor.close()


def run(executor, tmp_path, timeout=120, **overrides):
    paths = RunPaths.under(tmp_path)
    config = TrainConfig(experiment_id="exp_0001", metrics_path=str(paths.metrics("exp_0001")),
                         **dict(TINY, **overrides))
    return executor.run(config, paths, timeout), paths


def test_every_backend_satisfies_the_protocol(backend):
    assert isinstance(backend, Executor)


def test_a_good_run_completes_with_a_readable_metrics_file(backend, tmp_path):
    result, paths = run(backend, tmp_path)
    assert result.status == "completed", result.stderr_tail
    metrics, problem = read_metrics(result.metrics_path)
    assert problem is None and metrics["final_val_loss"] > 0
    assert (paths.config_dir / "exp_0001.py").exists()
    assert (paths.config_dir / "exp_0001.json").exists()


def test_a_diverging_run_fails_with_its_error_line(backend, tmp_path):
    result, _ = run(backend, tmp_path, learning_rate=1e4)
    assert result.status == "failed"
    assert result.returncode == 3
    assert "diverged" in result.error


def test_a_hanging_run_is_stopped_at_the_timeout(backend, tmp_path):
    result, _ = run(backend, tmp_path, timeout=3, max_steps=10**9, eval_interval=10**8)
    assert result.status == "timeout"
    assert result.timed_out
    assert result.wall_time_s < 30


def test_stdout_and_stderr_are_captured_to_the_run_logs(tmp_path):
    result, paths = run(LocalExecutor(), tmp_path)
    assert "final_val_loss" in paths.out("exp_0001").read_text()


def test_a_missing_command_fails_as_a_result_not_an_exception(tmp_path):
    result, _ = run(CommandExecutor("/nonexistent/train-binary"), tmp_path)
    assert result.status == "failed"
    assert "cannot start" in result.error


def test_the_example_script_fulfils_the_command_contract(tmp_path):
    executor = CommandExecutor(f"{sys.executable} {ROOT / 'examples' / 'train_command.py'}")
    result, _ = run(executor, tmp_path)
    assert result.status == "completed", result.stderr_tail
    metrics, problem = read_metrics(result.metrics_path)
    assert problem is None and len(metrics["val_curve"]) > 1


def test_two_runs_at_once_from_two_threads(backend, tmp_path):
    """--workers calls run() from several threads: both runs complete, each with its own files."""
    from concurrent.futures import ThreadPoolExecutor

    paths = RunPaths.under(tmp_path)
    configs = [TrainConfig(experiment_id=eid, metrics_path=str(paths.metrics(eid)), **dict(TINY, seed=i))
               for i, eid in enumerate(("exp_0001", "exp_0002"))]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: backend.run(c, paths, 120), configs))
    assert [r.status for r in results] == ["completed", "completed"], [r.stderr_tail for r in results]
    assert [r.experiment_id for r in results] == ["exp_0001", "exp_0002"]
    losses = [read_metrics(r.metrics_path)[0]["final_val_loss"] for r in results]
    assert losses[0] != losses[1]  # two seeds, two runs: not one result written twice


def test_a_timed_step_says_how_long_one_training_step_of_a_config_takes_here():
    from executor.local import timed_step
    tiny = dict(model="transformer_tiny", dataset="synthetic", seq_len=32, batch_size=4, threads=1)
    seconds = timed_step(tiny)
    assert seconds is not None and 0 < seconds < 60
    assert timed_step(dict(tiny, model="no_such_model")) is None  # a config the trainer refuses says nothing
