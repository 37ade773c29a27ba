"""One training step and the watchers around it; executor.train runs the loop.

The step: lr from the schedule (executor/optim.py), forward and loss under the run's
precision, backward, grad clipping at `grad_clip` (default 1.0; 0 = off), the
optimizer. Nothing here waits for the device: the loss meters and the NaN/divergence
watch keep their sums on it until the loop reads them.

What a run may vary about the step:
- `precision` bf16 autocasts forward and loss; weights, grads and optimizer state stay
  fp32 (bf16 has fp32's exponent range, so no loss scaling is needed).
- `compile` trains through torch.compile, compiled on one batch before the timed loop
  (compile_time_s), so tokens_per_s is the steady state. If compiling fails the run
  fails (exit 2) instead of falling back to eager: a fallback would be logged as a
  compile=True run while it ran eager, and a comparison of the compile arms would
  quietly measure nothing. The error says to set compile: false.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from run_config import TrainConfig
from executor.optim import lr_at

DIVERGENCE_FACTOR = 3.0
HEALTH_EVERY = 10  # steps per window of the NaN/divergence watch (judged on the device)


class Diverged(RuntimeError):
    def __init__(self, step: int, loss: float):
        super().__init__(f"loss diverged at step {step} (loss={loss:.4g})")
        self.step, self.loss = step, loss


class CompileFailed(RuntimeError):
    """torch.compile could not compile the training step (the run does not fall back)."""


def lm_loss(model, seqs: torch.Tensor) -> torch.Tensor:
    x, y = seqs[:, :-1].long(), seqs[:, 1:].long()
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def autocast(precision: str, device: torch.device):
    """The forward's precision context: bf16 autocast, or a no-op for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def step_loss(config: TrainConfig, model, batch: torch.Tensor) -> torch.Tensor:
    with autocast(config.precision, batch.device):
        return lm_loss(model, batch)


def compile_step_model(config: TrainConfig, model, batch: torch.Tensor):
    """(the model to train with, seconds spent compiling); compiles now, on one batch.

    torch.compile is lazy: it compiles at the first call, so one forward/backward here
    surfaces a failure before training and keeps compile time out of the timed loop.
    The warm-up leaves no trace: its grads are dropped and the RNG state restored.
    """
    if not config.compile:
        return model, None
    device, start = batch.device, time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            compiled = torch.compile(model)
            step_loss(config, compiled, batch).backward()
        except (MemoryError, torch.cuda.OutOfMemoryError):
            raise
        except Exception as err:  # inductor raises many types; all mean "cannot compile here"
            why = (str(err).strip().splitlines() or [""])[0][:300]
            raise CompileFailed(f"compile failed ({type(err).__name__}: {why}); "
                                "set compile: false to train this config eager") from err
        finally:
            model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return compiled, time.perf_counter() - start


def check_health(step: int, mean_loss: float, initial: float) -> None:
    if not math.isfinite(mean_loss) or mean_loss > DIVERGENCE_FACTOR * initial:
        raise Diverged(step, mean_loss)


class LossMeter:
    """Running mean of the train loss, kept on the device so a step costs no host sync."""

    def __init__(self, device: torch.device):
        self.total, self.count = torch.zeros((), device=device), 0

    def add(self, loss: torch.Tensor) -> None:
        self.total += loss.detach().float()
        self.count += 1

    def mean(self) -> torch.Tensor:
        """The mean since the last reset, still on the device (no sync)."""
        return self.total / max(self.count, 1)

    def reset(self) -> None:
        self.total.zero_()
        self.count = 0

    def pop(self) -> float:
        """The mean since the last pop (one host sync), then reset."""
        mean = self.mean().item()
        self.reset()
        return mean


class Health:
    """The NaN/divergence watch, judged on the device so that a step costs no host sync.

    Each window of HEALTH_EVERY steps is bad if its mean train loss is not finite or is
    above DIVERGENCE_FACTOR x the initial val loss; the first bad window's end step and
    mean stay on the device until `check` reads them (one sync), at eval points. So a
    diverged run stops at the next eval, reporting the step where it went bad.
    """

    def __init__(self, device: torch.device, initial: float):
        self.window, self.limit = LossMeter(device), DIVERGENCE_FACTOR * initial
        self.bad_step = torch.zeros((), dtype=torch.long, device=device)  # 0 = none yet
        self.bad_loss = torch.zeros((), device=device)

    def add(self, loss: torch.Tensor, step: int, close: bool) -> None:
        self.window.add(loss)
        if close:
            mean = self.window.mean()
            first = (self.bad_step == 0) & ~(torch.isfinite(mean) & (mean <= self.limit))
            self.bad_step.masked_fill_(first, step)
            self.bad_loss = torch.where(first, mean, self.bad_loss)
            self.window.reset()

    def check(self) -> None:
        step = int(self.bad_step.item())
        if step:
            raise Diverged(step, self.bad_loss.item())


def train_step(config: TrainConfig, model, opt, batch: torch.Tensor, step: int) -> torch.Tensor:
    for group in opt.param_groups:
        group["lr"] = lr_at(config, step - 1)
    loss = step_loss(config, model, batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    opt.step()
    return loss
