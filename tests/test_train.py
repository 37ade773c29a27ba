"""The training entry point, run on the tiny model and the synthetic language (CPU, seconds)."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from executor import config as config_mod
from executor import train as train_mod
from executor.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"final_val_loss", "best_val_loss", "final_val_bpc", "val_curve", "train_curve", "convergence_step",
        "convergence_epoch", "epochs", "steps", "train_time_s", "tokens_per_s", "peak_memory_mb",
        "n_train_samples", "n_params", "device", "dataset_sha256", "entropy_floor", "torch_version"}


def tiny(tmp_path, **overrides) -> TrainConfig:
    base = TrainConfig(model="transformer_tiny", dataset="synthetic", seq_len=32, batch_size=16, max_steps=60,
                       eval_interval=20, eval_batches=2, learning_rate=3e-3, device="cpu", threads=1,
                       metrics_path=str(tmp_path / "metrics.json"))
    return replace(base, **overrides)


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "executor.train", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_with_json_config_writes_every_metric_and_val_loss_decreases(tmp_path):
    config = tiny(tmp_path)
    _, json_path = config_mod.write(config, tmp_path)
    result = run_cli(json_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(Path(config.metrics_path).read_text())
    assert set(metrics) == KEYS
    assert metrics["final_val_loss"] < metrics["val_curve"][0][1]
    assert [s for s, _ in metrics["val_curve"]] == [0, 20, 40, 60]
    assert "final_val_loss:" in result.stdout


def test_python_config_file_is_accepted(tmp_path):
    py_path, _ = config_mod.write(tiny(tmp_path, max_steps=20), tmp_path)
    assert train_mod.main([str(py_path)]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 20


def test_dry_run_writes_no_metrics(tmp_path, capsys):
    _, json_path = config_mod.write(tiny(tmp_path), tmp_path)
    assert train_mod.main([str(json_path), "--dry-run"]) == 0
    assert "batch_shape: [16, 33]" in capsys.readouterr().out
    assert not (tmp_path / "metrics.json").exists()


def test_same_seed_gives_identical_curves(tmp_path):
    first = train_mod.train(tiny(tmp_path, seed=7))
    second = train_mod.train(tiny(tmp_path, seed=7))
    assert first["val_curve"] == second["val_curve"] and first["train_curve"] == second["train_curve"]


def test_huge_learning_rate_exits_3_with_a_divergence_line_and_no_metrics(tmp_path, capsys):
    _, json_path = config_mod.write(tiny(tmp_path, learning_rate=1e3), tmp_path)
    assert train_mod.main([str(json_path)]) == 3
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: loss diverged at step")
    assert not (tmp_path / "metrics.json").exists()


def test_trained_val_loss_approaches_but_stays_above_the_entropy_floor(tmp_path):
    metrics = train_mod.train(tiny(tmp_path, batch_size=32, max_steps=400, eval_interval=100, learning_rate=1e-2))
    floor = metrics["entropy_floor"]
    assert floor - 0.05 < metrics["final_val_loss"] < floor + 0.3


def test_unavailable_data_exits_2_with_one_error_line(tmp_path, capsys):
    config = tiny(tmp_path, dataset="wikitext-2", data_dir=str(tmp_path / "empty"))
    _, json_path = config_mod.write(config, tmp_path)
    assert train_mod.main([str(json_path)]) == 2
    assert "train.txt is missing" in capsys.readouterr().err


@pytest.mark.parametrize("curve,expected", [
    ([[0, 3.0], [10, 2.0], [20, 1.05], [30, 1.0]], 20),  # 1.05 <= 1.0 + 0.1 * 2.0
    ([[0, 3.0], [10, 3.1]], 0),  # never improved: converged at the start
])
def test_convergence_step_is_the_first_eval_within_10_percent_of_the_improvement(curve, expected):
    assert train_mod.convergence_step(curve) == expected
