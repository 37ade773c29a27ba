"""The trainer's flags: optimizer, lr_schedule, grad_clip, and each architecture flag trained for real."""
import json
import math
from dataclasses import replace

import pytest
import torch

import models
import run_config
from executor import config_file
from executor import optim
from executor import step as step_mod
from executor import train as train_mod
from run_config import TrainConfig

CPU = torch.device("cpu")


def tiny(tmp_path, **overrides) -> TrainConfig:
    base = TrainConfig(model="transformer_tiny", dataset="synthetic", seq_len=32, batch_size=16, max_steps=40,
                       eval_interval=20, eval_batches=2, learning_rate=3e-3, device="cpu", threads=1,
                       metrics_path=str(tmp_path / "metrics.json"))
    return replace(base, **overrides)


def test_the_defaults_are_the_trainer_before_the_flags():
    c = TrainConfig()
    assert (c.norm_type, c.activation, c.pos_encoding, c.n_head) == ("layernorm", "gelu", "learned", None)
    assert (c.optimizer, c.lr_schedule, c.grad_clip) == ("adamw", "constant", 1.0)


def test_every_optimizer_and_schedule_the_table_allows_has_an_implementation():
    assert run_config.CHOICES["optimizer"] == tuple(optim.OPTIMIZERS)
    assert run_config.CHOICES["lr_schedule"] == optim.SCHEDULES


def test_every_flag_is_a_factor_a_hypothesis_may_vary():
    flags = {"norm_type", "activation", "pos_encoding", "optimizer", "lr_schedule", "grad_clip", "n_head"}
    assert flags <= set(run_config.FACTORS)
    assert (run_config.FIELD_TYPES["grad_clip"], run_config.FIELD_TYPES["n_head"]) == ("float", "int | None")


@pytest.mark.parametrize("field, value", [("norm_type", "batchnorm"), ("activation", "swish"),
                                          ("pos_encoding", "alibi"), ("optimizer", "lion"),
                                          ("lr_schedule", "step")])
def test_an_unknown_flag_value_is_refused_when_a_config_loads(field, value):
    with pytest.raises(ValueError, match=f"^{field}: {value!r} is not one of"):
        run_config.from_dict({field: value})


def test_the_flags_round_trip_through_both_config_files(tmp_path):
    config = TrainConfig(norm_type="rmsnorm", activation="swiglu", pos_encoding="rope", optimizer="sgd",
                         lr_schedule="cosine", grad_clip=0.0, n_head=8)
    py_path, json_path = config_file.write(config, tmp_path)
    assert config_file.load(py_path) == config == config_file.load(json_path)


# --- optimizer ---------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam),
                                       ("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop),
                                       ("adagrad", torch.optim.Adagrad)])
def test_the_named_optimizer_is_built_with_the_configs_rate_and_decay(name, cls):
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = optim.make_optimizer(TrainConfig(optimizer=name, learning_rate=0.02, weight_decay=0.1), params, CPU)
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.02, 0.1)
    assert not group.get("fused")  # fused kernels only on CUDA


def test_sgd_uses_heavy_ball_momentum():
    params = [torch.nn.Parameter(torch.zeros(3))]
    group = optim.make_optimizer(TrainConfig(optimizer="sgd"), params, CPU).param_groups[0]
    assert group["momentum"] == optim.SGD_MOMENTUM == 0.9 and not group["nesterov"]


@pytest.mark.parametrize("clip, message", [(-1.0, "must be >= 0"), (math.inf, "must be a finite number"),
                                           (math.nan, "must be a finite number")])
def test_a_negative_or_non_finite_grad_clip_is_refused_by_the_range_table(clip, message):
    with pytest.raises(ValueError, match=f"^grad_clip: {message}"):
        run_config.check(TrainConfig(grad_clip=clip))


# --- lr_schedule -------------------------------------------------------------------

def lr(schedule, step, warmup=10, steps=110, peak=1.0):
    return optim.lr_at(TrainConfig(lr_schedule=schedule, warmup_steps=warmup, max_steps=steps,
                                   learning_rate=peak), step)


@pytest.mark.parametrize("schedule", optim.SCHEDULES)
def test_every_schedule_warms_up_linearly_to_the_peak(schedule):
    assert [lr(schedule, s) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]


@pytest.mark.parametrize("step, constant, cosine, linear", [
    (10, 1.0, 1.0, 1.0),                                   # p = 0: the peak
    (35, 1.0, (1 + math.cos(math.pi / 4)) / 2, 0.75),      # p = 1/4
    (60, 1.0, 0.5, 0.5),                                   # p = 1/2
    (109, 1.0, (1 + math.cos(math.pi * 0.99)) / 2, 0.01),  # the last step, p = 99/100
])
def test_after_warmup_the_schedules_follow_their_closed_forms(step, constant, cosine, linear):
    assert lr("constant", step) == constant
    assert lr("cosine", step) == pytest.approx(cosine, abs=1e-12)
    assert lr("linear", step) == pytest.approx(linear, abs=1e-12)


def test_without_warmup_a_decay_starts_at_the_peak_and_stays_above_zero():
    assert lr("cosine", 0, warmup=0, steps=4) == 1.0 and lr("linear", 3, warmup=0, steps=4) == 0.25


def test_the_default_schedule_is_the_old_warmup_then_constant():
    c = TrainConfig(warmup_steps=4, learning_rate=3e-4)
    assert [optim.lr_at(c, s) for s in range(6)] == [3e-4 * (s + 1) / 4 for s in range(4)] + [3e-4, 3e-4]


def test_a_training_step_sets_the_scheduled_rate(tmp_path):
    config = tiny(tmp_path, lr_schedule="linear", max_steps=10, learning_rate=0.01)
    model = models.build(TrainConfig(model="transformer_tiny", seq_len=32), 16)
    opt = optim.make_optimizer(config, model.parameters(), CPU)
    step_mod.train_step(config, model, opt, torch.randint(0, 16, (4, 33)), step=6)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * (1 - 5 / 10))


# --- grad_clip ---------------------------------------------------------------------

def grad_norm_after_a_step(grad_clip: float) -> float:
    torch.manual_seed(0)
    model = models.build(TrainConfig(model="transformer_tiny", seq_len=32), 16)
    config = TrainConfig(grad_clip=grad_clip, optimizer="sgd", learning_rate=0.0)
    opt = optim.make_optimizer(config, model.parameters(), CPU)
    batch = torch.randint(0, 16, (4, 33), generator=torch.Generator().manual_seed(1))
    step_mod.train_step(config, model, opt, batch, 1)
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()


def test_grad_clip_bounds_the_global_norm_and_zero_switches_it_off():
    raw = grad_norm_after_a_step(0.0)
    assert raw > 0.05
    assert grad_norm_after_a_step(0.05) == pytest.approx(0.05, rel=1e-4)
    assert grad_norm_after_a_step(10 * raw) == pytest.approx(raw, rel=1e-6)


# --- every variant trains for real -------------------------------------------------

@pytest.mark.parametrize("flags", [{"norm_type": "rmsnorm"}, {"activation": "relu"}, {"activation": "swiglu"},
                                   {"pos_encoding": "rope"}, {"n_head": 4}, {"optimizer": "adam"},
                                   {"optimizer": "sgd", "learning_rate": 0.1}, {"optimizer": "rmsprop"},
                                   {"optimizer": "adagrad", "learning_rate": 0.03},
                                   {"lr_schedule": "cosine", "warmup_steps": 5},
                                   {"lr_schedule": "linear"}, {"grad_clip": 0.0}])
def test_each_variant_trains_and_reports_its_exact_parameter_count(tmp_path, flags):
    config = tiny(tmp_path, **flags)
    metrics = train_mod.train(config)
    assert metrics["final_val_loss"] < metrics["val_curve"][0][1]
    arch = {k: v for k, v in flags.items() if k in ("norm_type", "activation", "pos_encoding", "n_head")}
    assert metrics["n_params"] == models.n_params(TrainConfig(model="transformer_tiny", seq_len=32, **arch), 16)


def test_a_variant_starts_from_the_defaults_init_where_shapes_match(tmp_path):
    default = train_mod.train(tiny(tmp_path, max_steps=20))
    relu = train_mod.train(tiny(tmp_path, max_steps=20, activation="relu"))
    sgd = train_mod.train(tiny(tmp_path, max_steps=20, optimizer="sgd"))
    assert sgd["val_curve"][0] == default["val_curve"][0]  # same weights at step 0
    assert relu["val_curve"][0] != default["val_curve"][0]  # same weights, another function
    assert sgd["val_curve"][-1] != default["val_curve"][-1]


def test_an_n_head_that_does_not_divide_d_model_exits_2_naming_both(tmp_path, capsys):
    _, json_path = config_file.write(tiny(tmp_path, n_head=5), tmp_path)
    assert train_mod.main([str(json_path)]) == 2
    assert "d_model=32 must be a positive multiple of n_head=5" in capsys.readouterr().err
    assert not (tmp_path / "metrics.json").exists()


def test_a_bad_flag_in_a_config_file_exits_2_naming_field_and_value(tmp_path, capsys):
    config = tiny(tmp_path)
    (tmp_path / "c.json").write_text(json.dumps({**run_config.to_dict(config), "optimizer": "lion"}))
    assert train_mod.main([str(tmp_path / "c.json")]) == 2
    assert "optimizer: 'lion' is not one of" in capsys.readouterr().err


ALL_NEW_ARCH = {"norm_type": "rmsnorm", "activation": "swiglu", "pos_encoding": "rope"}


@pytest.mark.parametrize("flags", [{"norm_type": "rmsnorm"}, {"activation": "swiglu"}, {"pos_encoding": "rope"}])
def test_each_new_block_runs_under_bf16_autocast_with_fp32_grads(flags):
    torch.manual_seed(0)
    model = models.build(TrainConfig(model="transformer_tiny", seq_len=32, **flags), 16)
    loss = step_mod.step_loss(TrainConfig(precision="bf16"), model, torch.randint(0, 16, (4, 33)))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad.dtype == torch.float32 for p in model.parameters())


def test_the_new_blocks_compile_to_the_same_loss_as_eager(tmp_path):
    # aot_eager: dynamo and autograd tracing without a C++ build, as in test_train.py.
    torch.manual_seed(0)
    model = models.build(TrainConfig(model="transformer_tiny", seq_len=32, **ALL_NEW_ARCH), 16)
    batch = torch.randint(0, 16, (4, 33))
    compiled = torch.compile(model, backend="aot_eager")
    config = TrainConfig()
    assert step_mod.step_loss(config, compiled, batch).item() == pytest.approx(
        step_mod.step_loss(config, model, batch).item(), rel=1e-5)


def test_the_simulator_keeps_its_noise_draws_when_the_flags_hold_their_defaults():
    from executor import sim

    flags = {"n_head", "norm_type", "activation", "pos_encoding", "optimizer", "lr_schedule", "grad_clip"}
    point = {k: v for k, v in run_config.to_dict(TrainConfig()).items() if k in run_config.FACTORS}
    assert not flags & set(sim._factors(point))
    assert "norm_type" in sim._factors({**point, "norm_type": "rmsnorm"})
