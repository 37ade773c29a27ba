"""One contract, every backend: completed, failed and timed-out runs come back as results."""
import sys
from pathlib import Path

import pytest

from executor.base import Executor, RunPaths
from executor.command import CommandExecutor
from executor.config import TrainConfig
from executor.local import LocalExecutor
from parser.metrics import read_metrics

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(model="transformer_tiny", dataset="synthetic", seq_len=16, batch_size=8,
            max_steps=20, eval_interval=10, eval_batches=2, threads=1)

BACKENDS = {
    "local-fork": lambda: LocalExecutor(fork=True),
    "local-spawn": lambda: LocalExecutor(fork=False),
    "command": lambda: CommandExecutor(f"{sys.executable} {ROOT / 'tests' / 'fake_train.py'}"),
}


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    executor = BACKENDS[request.param]()
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
