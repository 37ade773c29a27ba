"""The optimizer and the learning-rate schedule a run names (`optimizer`, `lr_schedule`).

Optimizers, all on every parameter at `learning_rate` and `weight_decay` (no parameter
groups, as before these flags):

- adamw: decoupled weight decay (Loshchilov & Hutter), torch's defaults (betas 0.9,
  0.999, eps 1e-8); fused on CUDA. The default.
- adam: the same moments, weight decay as an L2 term in the gradient; fused on CUDA.
- sgd: heavy-ball momentum SGD_MOMENTUM, weight decay as L2.
- rmsprop: torch's defaults (alpha 0.99, eps 1e-8, no momentum), weight decay as L2.
- adagrad: torch's defaults (eps 1e-10), weight decay as L2.

Schedule over steps s = 0 .. max_steps-1, with W = warmup_steps, T = max_steps and
lr the peak `learning_rate`:

- warmup, s < W: lr * (s + 1) / W (linear, reaching lr at s = W - 1);
- then, with p = (s - W) / max(1, T - W) in [0, 1):
  constant: lr; cosine: lr * (1 + cos(pi p)) / 2; linear: lr * (1 - p).
  The decays would reach zero at s = T, so the last step still moves the weights.
"""
from __future__ import annotations

import math

import torch

from run_config import TrainConfig

SGD_MOMENTUM = 0.9
SCHEDULES = ("constant", "cosine", "linear")


def _adamw(params, c: TrainConfig, fused: dict):
    return torch.optim.AdamW(params, lr=c.learning_rate, weight_decay=c.weight_decay, **fused)


def _adam(params, c: TrainConfig, fused: dict):
    return torch.optim.Adam(params, lr=c.learning_rate, weight_decay=c.weight_decay, **fused)


def _sgd(params, c: TrainConfig, fused: dict):
    return torch.optim.SGD(params, lr=c.learning_rate, momentum=SGD_MOMENTUM, weight_decay=c.weight_decay)


def _rmsprop(params, c: TrainConfig, fused: dict):
    return torch.optim.RMSprop(params, lr=c.learning_rate, weight_decay=c.weight_decay)


def _adagrad(params, c: TrainConfig, fused: dict):
    return torch.optim.Adagrad(params, lr=c.learning_rate, weight_decay=c.weight_decay)


OPTIMIZERS = {"adamw": _adamw, "adam": _adam, "sgd": _sgd, "rmsprop": _rmsprop, "adagrad": _adagrad}
_FUSED_ON_CUDA = ("adamw", "adam")


def make_optimizer(config: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    """The config's optimizer over `params`.

    On a GPU, fused Adam(W) updates every tensor in one kernel. Elsewhere the key is left
    out: fused=False would also switch off the multi-tensor default.
    """
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: {config.optimizer!r} is not one of {', '.join(map(repr, OPTIMIZERS))}")
    fused = {"fused": True} if device.type == "cuda" and config.optimizer in _FUSED_ON_CUDA else {}
    return OPTIMIZERS[config.optimizer](params, config, fused)


def lr_at(config: TrainConfig, step: int) -> float:
    """The learning rate of step `step` (0-based), by the formulas in the module docstring."""
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.learning_rate
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))
    if config.lr_schedule == "linear":
        return config.learning_rate * (1.0 - progress)
    raise ValueError(f"lr_schedule: {config.lr_schedule!r} is not one of {', '.join(map(repr, SCHEDULES))}")
