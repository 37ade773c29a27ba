"""The simulated backend: metrics in milliseconds from a known response surface.

A test bed for the statistics (the truth is known, so every verdict can be scored)
and a way to rehearse a study's budget before any GPU time is spent. The truth file
(see examples/sim_truth.yaml) gives a validation-loss curve

    loss(step) = floor + (initial - floor) * exp(-step / tau) + eval * z_step

whose log(tau) and log(floor) move by the listed effects and by seeded noise:

    log tau   = log tau0   + sum(effects on tau)   + tau_shared   * z_s + tau_arm   * z_a
    log floor = log floor0 + sum(effects on floor) + floor_shared * z_s + floor_arm * z_a

z_s comes from a stable hash of (seed, the config without the factors that have
effects), so the two arms of a seed-paired comparison share it, as real runs share
data order and init; z_a comes from a hash of (seed, the whole config). The same
config and seed always give the same metrics.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

import run_config
from executor import config_file
from executor.atomic import write_atomic
from executor.base import DIVERGED_EXIT, RunPaths, RunResult, outcome
from run_config import convergence_step

# A `parser.sim_truth.Truth` (loaded and validated there), read here field by field:
# the parser imports the executor's config, so the executor never imports the parser.
Truth = Any


# --- the response surface -------------------------------------------------------------

def _matches(level: Any, value: Any) -> bool:
    if isinstance(value, bool) or isinstance(level, bool):
        return level is value
    if isinstance(value, (int, float)) and isinstance(level, (int, float)):
        return math.isclose(level, value, rel_tol=1e-9)
    return level == value


def _lookup(table: dict, value: Any) -> Any:
    return next((out for level, out in table.items() if _matches(level, value)), None)


def n_train_samples(truth: Truth, point: dict) -> int | None:
    """N = max(1, round(fraction * per_fraction)), or the registry's count for the dataset."""
    fraction = point.get("dataset_fraction", 1.0)
    if truth.n_train_samples.per_fraction is not None:
        return max(1, round(fraction * truth.n_train_samples.per_fraction))
    from datasets import is_known, n_train_samples as registry

    return registry(point["dataset"], point["seq_len"], fraction) if is_known(point["dataset"]) else None


def _variable(point: dict, name: str, n: int | None):
    return n if name == "n_train_samples" else point.get(name)


def _shift(truth: Truth, point: dict, on: str, n: int | None) -> float:
    total = 0.0
    for e in truth.effects:
        if e.on == on and (e.where is None or e.where.holds(_variable(point, e.where.variable, n))):
            total += (_lookup(e.levels, point.get(e.factor)) or 0.0) + _along(e, point, n)
    return total


def _along(e, point: dict, n: int | None) -> float:
    """The smooth part of an effect: per_e_fold * log(value / at), 0 without `along`."""
    if e.along is None:
        return 0.0
    value = _variable(point, e.along.variable, n)
    slope = _lookup(e.along.per_e_fold, point.get(e.factor)) or 0.0
    return slope * math.log(value / e.along.at) if slope and value else 0.0


def _normal(*key: Any, size: int = 1) -> np.ndarray:
    """Standard normals from a stable hash of the key (never Python's salted hash())."""
    text = json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(size)


# The factors there were when the simulated worlds were fixed. A field added since is left
# out of the noise keys at its default, so the same truth file and `draw` keep giving the
# same world whatever flags the trainer gains.
_WORLD_FACTORS = frozenset({"model", "dataset", "norm_position", "learning_rate", "weight_decay", "warmup_steps",
                            "dropout", "n_layer", "d_model", "dataset_fraction", "seq_len", "batch_size",
                            "max_steps", "eval_interval", "eval_batches", "seed"})
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(run_config.TrainConfig)}


def _factors(point: dict) -> dict:
    return {k: v for k, v in point.items() if run_config.is_factor(k) and k != "seed"
            and not (k in _DEFAULTS and k not in _WORLD_FACTORS and v == _DEFAULTS[k])}


def simulate(truth: Truth, point: dict, noisy: bool = True) -> dict:
    """The metrics of one run at a design point (a dict of factors, seed included)."""
    n = n_train_samples(truth, point)
    log_tau = math.log(truth.curve.tau) + _shift(truth, point, "tau", n)
    log_floor = math.log(truth.curve.floor) + _shift(truth, point, "floor", n)
    steps = _eval_steps(point)
    evals = np.zeros(len(steps))
    if noisy:
        seed, full = point.get("seed", 0), _factors(point)
        shared = {k: v for k, v in full.items() if k not in truth.paired_over()}
        nz = truth.noise
        z_s, z_a = _normal("shared", nz.draw, seed, shared, size=2), _normal("arm", nz.draw, seed, full, size=2)
        log_tau += nz.tau_shared * z_s[0] + nz.tau_arm * z_a[0]
        log_floor += nz.floor_shared * z_s[1] + nz.floor_arm * z_a[1]
        evals = nz.eval * _normal("eval", nz.draw, seed, full, size=len(steps))
    tau, floor, initial = math.exp(log_tau), math.exp(log_floor), truth.curve.initial
    curve = [[s, floor + (initial - floor) * math.exp(-s / tau) + float(e)] for s, e in zip(steps, evals)]
    return _metrics(truth, point, _stopped(curve, point.get("stop_at_loss")), n)


def _stopped(curve: list, target: float | None) -> list:
    """The curve up to its first evaluation at or below `target`, as the trainer stops there."""
    if target is None:
        return curve
    at = next((i for i, (_, loss) in enumerate(curve) if i > 0 and loss <= target), len(curve) - 1)
    return curve[:at + 1]


def _eval_steps(point: dict) -> list[int]:
    """Step 0, every eval_interval, and the last step: where the trainer evaluates."""
    last, every = point.get("max_steps", 200), max(1, point.get("eval_interval", 20))
    return sorted({0, *range(every, last + 1, every), last})


def _metrics(truth: Truth, point: dict, curve: list, n: int | None) -> dict:
    max_steps, batch, seq = point.get("max_steps", 200), point.get("batch_size", 16), point.get("seq_len", 64)
    cost = math.prod(_lookup(levels, point.get(f)) or 1.0 for f, levels in truth.step_cost.items())
    trained = int(curve[-1][0])  # max_steps, or where it stopped at its target
    seconds = trained * truth.seconds_per_step * cost
    final, best = curve[-1][1], min(loss for _, loss in curve)
    conv = convergence_step(curve)
    return {"final_val_loss": final, "best_val_loss": best, "final_val_bpc": final / math.log(2),
            "val_curve": curve, "convergence_step": conv, "steps": trained, "stopped_early": trained < max_steps,
            "convergence_epoch": conv * batch / n if n else None,
            "epochs": trained * batch / n if n else None,
            "train_time_s": seconds, "tokens_per_s": trained * batch * seq / seconds,
            "peak_memory_mb": truth.peak_memory_mb, "n_train_samples": n,
            "device": "sim", "simulated": True}


def failure(truth: Truth, point: dict) -> str | None:
    """Why a run at this point fails by the truth's failure rules, or None."""
    for factor, levels in truth.failures.items():
        why = _lookup(levels, point.get(factor))
        if why is not None:
            return f"error: {why} (simulated failure rule {factor}={point.get(factor)!r})"
    return None


# --- the backend ----------------------------------------------------------------------

class SimExecutor:
    name = "sim"

    def __init__(self, truth: Truth):
        self.truth = truth

    def run(self, config: run_config.TrainConfig, paths: RunPaths, timeout_s: float) -> RunResult:
        start, eid = time.perf_counter(), config.experiment_id
        config_file.write(config, paths.config_dir)
        point = run_config.to_dict(config)
        code, timed_out, error = 0, False, failure(self.truth, point)
        metrics = None
        if error is None and n_train_samples(self.truth, point) is None:
            error = f"error: the size of {config.dataset} is unknown; set n_train_samples.per_fraction"
        if error is None:
            metrics = simulate(self.truth, point)
            timed_out = metrics["train_time_s"] > timeout_s
        paths.err(eid).write_text(f"{error}\n" if error else "")
        paths.out(eid).write_text(_summary(metrics) if metrics and not timed_out else "")
        if error:
            code = DIVERGED_EXIT
        elif timed_out:
            code = None
        else:
            write_atomic(config.metrics_path, json.dumps(metrics) + "\n")
        result = outcome(eid, code, timed_out, time.perf_counter() - start, paths, timeout_s)
        return dataclasses.replace(result, metrics_path=Path(config.metrics_path))

    def close(self) -> None:
        pass


def _summary(m: dict) -> str:
    return "".join(f"{k}: {m[k]}\n" for k in ("final_val_loss", "convergence_step", "train_time_s",
                                               "n_train_samples"))


