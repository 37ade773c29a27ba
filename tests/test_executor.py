"""The local and command backends beyond the shared contract (tests/test_executor_contract.py):
a command that cannot start, the example script, and a timed training step."""
import sys
from pathlib import Path

from executor.base import RunPaths
from executor.command import CommandExecutor
from executor.local import timed_step
from parser.metrics import read_metrics
from run_config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
NO_LIMIT = 3600.0  # none of these is about time: a slow machine never cuts a run short
TINY = dict(model="transformer_tiny", dataset="synthetic", seq_len=16, batch_size=8,
            max_steps=20, eval_interval=10, eval_batches=2, threads=1)


def run(executor, tmp_path):
    paths = RunPaths.under(tmp_path)
    config = TrainConfig(experiment_id="exp_0001", metrics_path=str(paths.metrics("exp_0001")), **TINY)
    return executor.run(config, paths, NO_LIMIT)


def test_a_missing_command_fails_as_a_result_not_an_exception(tmp_path):
    result = run(CommandExecutor("/nonexistent/train-binary"), tmp_path)
    assert (result.status, result.cause) == ("failed", "start_failed")
    assert "cannot start" in result.error


def test_the_example_script_fulfils_the_command_contract(tmp_path):
    result = run(CommandExecutor(f"{sys.executable} {ROOT / 'examples' / 'train_command.py'}"), tmp_path)
    assert result.status == "completed", result.stderr_tail
    metrics, problem = read_metrics(result.metrics_path)
    assert problem is None and len(metrics["val_curve"]) > 1


def test_a_timed_step_says_how_long_one_training_step_of_a_config_takes_here():
    tiny = dict(model="transformer_tiny", dataset="synthetic", seq_len=32, batch_size=4, threads=1)
    seconds = timed_step(tiny, timeout_s=NO_LIMIT)
    assert seconds is not None and seconds > 0
    assert timed_step(dict(tiny, model="no_such_model"), timeout_s=NO_LIMIT) is None  # a config the trainer refuses says nothing
