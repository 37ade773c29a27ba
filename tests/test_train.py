"""The training entry point, run on the tiny model and the synthetic language (CPU, seconds)."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import run_config
from executor import config_file
from executor import step as step_mod
from executor import train as train_mod
from run_config import TrainConfig
from run_config import convergence_step

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"final_val_loss", "best_val_loss", "final_val_bpc", "val_curve", "train_curve", "convergence_step",
        "convergence_epoch", "epochs", "steps", "stopped_early", "train_time_s", "tokens_per_s", "peak_memory_mb",
        "n_train_samples", "n_params", "device", "dataset_sha256", "entropy_floor", "torch_version",
        "peak_gpu_memory_mb", "peak_rss_mb", "precision", "compile", "compile_time_s", "phases_s",
        "started_unix", "finished_unix", "threads", "threads_source"}


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
    _, json_path = config_file.write(config, tmp_path)
    result = run_cli(json_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(Path(config.metrics_path).read_text())
    assert set(metrics) == KEYS
    assert metrics["final_val_loss"] < metrics["val_curve"][0][1]
    assert [s for s, _ in metrics["val_curve"]] == [0, 20, 40, 60]
    assert "final_val_loss:" in result.stdout
    assert set(metrics["phases_s"]) == {"config", "data", "model", "compile", "train"}
    assert metrics["phases_s"]["train"] == metrics["train_time_s"]
    assert metrics["started_unix"] + sum(metrics["phases_s"].values()) <= metrics["finished_unix"]


def test_python_config_file_is_accepted(tmp_path):
    py_path, _ = config_file.write(tiny(tmp_path, max_steps=20), tmp_path)
    assert train_mod.main([str(py_path)]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 20


def test_dry_run_writes_no_metrics(tmp_path, capsys):
    _, json_path = config_file.write(tiny(tmp_path), tmp_path)
    assert train_mod.main([str(json_path), "--dry-run"]) == 0
    assert "batch_shape: [16, 33]" in capsys.readouterr().out
    assert not (tmp_path / "metrics.json").exists()


def test_same_seed_gives_identical_curves(tmp_path):
    first = train_mod.train(tiny(tmp_path, seed=7))
    second = train_mod.train(tiny(tmp_path, seed=7))
    assert first["val_curve"] == second["val_curve"] and first["train_curve"] == second["train_curve"]


def test_huge_learning_rate_exits_3_with_a_divergence_line_and_no_metrics(tmp_path, capsys):
    _, json_path = config_file.write(tiny(tmp_path, learning_rate=1e3), tmp_path)
    assert train_mod.main([str(json_path)]) == 3
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: loss diverged at step")
    assert not (tmp_path / "metrics.json").exists()


def test_trained_val_loss_approaches_but_stays_above_the_entropy_floor(tmp_path):
    metrics = train_mod.train(tiny(tmp_path, batch_size=32, max_steps=400, eval_interval=100, learning_rate=1e-2))
    floor = metrics["entropy_floor"]
    assert floor - 0.05 < metrics["final_val_loss"] < floor + 0.3


def test_unavailable_data_exits_2_with_one_error_line(tmp_path, capsys):
    config = tiny(tmp_path, dataset="wikitext-2", data_dir=str(tmp_path / "empty"))
    _, json_path = config_file.write(config, tmp_path)
    assert train_mod.main([str(json_path)]) == 2
    assert "train.txt is missing" in capsys.readouterr().err


@pytest.mark.parametrize("curve,expected", [
    ([[0, 3.0], [10, 2.0], [20, 1.05], [30, 1.0]], 20),  # 1.05 <= 1.0 + 0.1 * 2.0
    ([[0, 3.0], [10, 3.1]], 0),  # never improved: converged at the start
])
def test_convergence_step_is_the_first_eval_within_10_percent_of_the_improvement(curve, expected):
    assert convergence_step(curve) == expected


def test_cpu_metrics_record_peak_rss_as_the_memory_and_no_gpu_peak(tmp_path):
    metrics = train_mod.train(tiny(tmp_path, max_steps=20))
    assert metrics["peak_gpu_memory_mb"] is None
    assert metrics["peak_memory_mb"] == metrics["peak_rss_mb"] > 0
    assert (metrics["precision"], metrics["compile"], metrics["compile_time_s"]) == ("fp32", False, None)


def test_bf16_trains_under_autocast_and_is_evaluated_in_fp32_from_the_same_start(tmp_path):
    fp32 = train_mod.train(tiny(tmp_path))
    bf16 = train_mod.train(tiny(tmp_path, precision="bf16"))
    assert bf16["precision"] == "bf16"
    # Same init, and evaluation is the fixed fp32 instrument: step 0 is identical.
    assert bf16["val_curve"][0] == fp32["val_curve"][0]
    assert bf16["final_val_loss"] < bf16["val_curve"][0][1]
    assert bf16["train_curve"] != fp32["train_curve"]  # the arms did train differently


def test_bf16_autocasts_the_forward_but_keeps_fp32_weights_and_loss():
    model = torch.nn.Linear(4, 4)
    config = TrainConfig(precision="bf16")
    with step_mod.autocast(config.precision, torch.device("cpu")):
        out = model(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16 and model.weight.dtype == torch.float32
    with step_mod.autocast("fp32", torch.device("cpu")):
        assert model(torch.randn(2, 4)).dtype == torch.float32


@pytest.fixture
def fast_compile(monkeypatch):
    """torch.compile with the aot_eager backend: dynamo and autograd tracing, no C++ build
    (inductor takes a minute per model on this CPU; the trainer's handling is the same)."""
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: real(model, backend="aot_eager", **kw))


def test_compile_trains_through_the_compiled_model_and_times_the_compile(tmp_path, fast_compile):
    eager = train_mod.train(tiny(tmp_path, max_steps=20))
    compiled = train_mod.train(tiny(tmp_path, max_steps=20, compile=True))
    assert compiled["compile"] is True and compiled["compile_time_s"] > 0
    assert compiled["val_curve"][0] == eager["val_curve"][0]
    assert compiled["final_val_loss"] == pytest.approx(eager["final_val_loss"], rel=1e-3)


class _Uncompilable(torch.nn.Module):
    def forward(self, *args):
        raise RuntimeError("no C compiler found\nsecond line of a long trace")


def test_a_compile_failure_exits_2_with_one_clear_line_and_no_metrics(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch, "compile", lambda model, **kw: _Uncompilable())
    _, json_path = config_file.write(tiny(tmp_path, compile=True), tmp_path)
    assert train_mod.main([str(json_path)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: compile failed (RuntimeError: no C compiler found)")
    assert "compile: false" in last
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("field, value", [("precision", "fp8"), ("compile", "yes"), ("compile", 1)])
def test_a_bad_precision_or_compile_value_exits_2_naming_field_and_value(tmp_path, capsys, field, value):
    config = tiny(tmp_path)
    (tmp_path / "c.json").write_text(json.dumps({**run_config.to_dict(config), field: value}))
    assert train_mod.main([str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert f"{field}: {value!r} is not one of" in err
    assert not (tmp_path / "metrics.json").exists()


def test_cuda_devices_is_exported_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "untouched")
    train_mod.train(tiny(tmp_path, max_steps=1, eval_interval=1, cuda_devices="3"))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"


def test_without_cuda_devices_the_environment_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "untouched")
    train_mod.train(tiny(tmp_path, max_steps=1, eval_interval=1))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "untouched"


def test_the_step_loop_reads_nothing_back_between_eval_points(tmp_path, monkeypatch):
    """Every host read from the trainer's own code is counted: evals only, not steps."""
    reads = []
    executor_dir = str(ROOT / "executor")

    def counting(name):
        real = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            if sys._getframe(1).f_code.co_filename.startswith(executor_dir):
                reads.append(name)
            return real(self, *args, **kwargs)
        return read

    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    train_mod.train(tiny(tmp_path, max_steps=100, eval_interval=50))
    # 3 evals (0, 50, 100), each: the health flag, the train mean, the val loss
    assert len(reads) <= 3 * 3, reads


def test_the_health_watch_reports_the_first_bad_window_when_checked():
    health = step_mod.Health(torch.device("cpu"), initial=2.0)
    for step in range(1, 31):
        loss = float("nan") if step == 13 else (100.0 if step > 20 else 2.0)
        health.add(torch.tensor(loss), step, close=step % step_mod.HEALTH_EVERY == 0)
    with pytest.raises(step_mod.Diverged, match="at step 20"):
        health.check()


def test_the_health_watch_passes_a_healthy_run():
    health = step_mod.Health(torch.device("cpu"), initial=2.0)
    for step in range(1, 21):
        health.add(torch.tensor(5.9), step, close=step % step_mod.HEALTH_EVERY == 0)
    assert health.check() is None  # just under 3x the initial loss: no Diverged raised


def test_batches_walk_seeded_epoch_permutations_across_epoch_boundaries():
    gen = torch.Generator().manual_seed(3)
    flat = torch.cat([torch.randperm(50, generator=gen) for _ in range(3)])  # 50 is not a multiple of 16
    stream = train_mod.batch_stream(50, 16, seed=3)
    assert torch.equal(torch.cat([next(stream) for _ in range(9)]), flat[:144])


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU visible")


@needs_cuda
def test_on_a_gpu_bf16_records_the_gpu_peak_as_the_memory(tmp_path):
    metrics = train_mod.train(tiny(tmp_path, device="cuda", precision="bf16"))
    assert metrics["peak_gpu_memory_mb"] > 0
    assert metrics["peak_memory_mb"] == metrics["peak_gpu_memory_mb"]
    assert metrics["final_val_loss"] < metrics["val_curve"][0][1]


@needs_cuda
def test_on_a_gpu_the_step_loop_syncs_only_at_eval_points(tmp_path):
    import warnings

    config = tiny(tmp_path, device="cuda", max_steps=100, eval_interval=50)
    train_mod.train(replace(config, max_steps=2))  # CUDA context, cuBLAS and allocator warm
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train_mod.train(config)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) < 30, [str(w.message) for w in syncs[:5]]  # a per-step sync would give >= 100


def test_a_run_with_a_target_stops_at_its_first_crossing_and_scores_what_the_full_run_would(tmp_path):
    from parser.checker import scoring

    full = train_mod.train(tiny(tmp_path, seed=3))
    target = full["val_curve"][1][1]  # the loss it had at step 20 of 60
    stopped = train_mod.train(tiny(tmp_path, seed=3, stop_at_loss=target))
    assert stopped["steps"] == 20 and stopped["stopped_early"] and not full["stopped_early"]
    assert stopped["val_curve"] == full["val_curve"][:2]  # the same run, up to where it stopped
    partner = [[0, full["val_curve"][0][1]], [60, target - 0.01]]
    assert scoring.steps_to_target(stopped["val_curve"], partner, target) == \
        scoring.steps_to_target(full["val_curve"], partner, target)
