"""The training entry point: `python -m executor.train CONFIG [--dry-run]`.

Trains one model on one dataset as the config says, evaluates on a fixed set of val
windows, and writes the metrics JSON atomically. Runs on its own (by hand) and is what
the executor spawns. Imports only the stdlib, numpy, torch, models, datasets and the
config contract.

Fixed across runs, so that runs compare: the val windows (the first
eval_batches * batch_size of the val split), the loss (mean nats/token), the schedule
(linear warmup for warmup_steps, then constant: convergence speed is then not shaped by
where a decay happens to end), grad clipping at 1.0.

Exit codes: 0 done, 2 bad config or data unavailable, 3 loss diverged (NaN/inf, or
train loss above DIVERGENCE_FACTOR x the initial loss).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import datasets
import models
from executor import config as config_mod
from executor.config import TrainConfig

DIVERGENCE_FACTOR = 3.0
HEALTH_EVERY = 10  # steps between NaN/divergence checks: one host sync per check, not per step
GRAD_CLIP = 1.0


class Diverged(RuntimeError):
    def __init__(self, step: int, loss: float):
        super().__init__(f"loss diverged at step {step} (loss={loss:.4g})")
        self.step, self.loss = step, loss


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def batch_stream(n: int, batch_size: int, seed: int):
    """Indices of successive batches: epoch-shuffled, each epoch a fresh permutation.

    Driven only by `seed` and n, so both arms of a comparison see the same data order.
    """
    gen = torch.Generator().manual_seed(seed)
    pending = torch.empty(0, dtype=torch.long)
    while True:
        while len(pending) < batch_size:
            pending = torch.cat([pending, torch.randperm(n, generator=gen)])
        yield pending[:batch_size]
        pending = pending[batch_size:]


def lm_loss(model, seqs: torch.Tensor) -> torch.Tensor:
    x, y = seqs[:, :-1].long(), seqs[:, 1:].long()
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def evaluate(model, val: torch.Tensor, batch_size: int) -> float:
    """Mean nats/token over all val windows (one host sync)."""
    model.eval()
    total = torch.zeros((), device=val.device)
    for i in range(0, len(val), batch_size):
        chunk = val[i:i + batch_size]
        total += lm_loss(model, chunk) * len(chunk)
    model.train()
    return total.item() / len(val)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


def convergence_step(val_curve: list[list[float]]) -> int:
    """First eval step whose val loss is within 10% of the total improvement of the best."""
    initial = val_curve[0][1]
    best = min(loss for _, loss in val_curve)
    bound = best + 0.1 * max(initial - best, 0.0)
    return next(int(step) for step, loss in val_curve if loss <= bound)


def prepare(config: TrainConfig, device: torch.device):
    """Train/val tensors on the device (uint8 when the vocab fits, cast per batch) and the corpus."""
    corpus = datasets.load(config.dataset, config.data_dir)
    dtype = np.uint8 if corpus.vocab_size <= 256 else np.int64
    train_np = datasets.train_sequences(corpus, config.seq_len, config.dataset_fraction)
    val_np = datasets.val_sequences(corpus, config.seq_len, config.eval_batches * config.batch_size)
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=dtype)).to(device)  # noqa: E731
    return corpus, to(train_np), to(val_np)


def build(config: TrainConfig, vocab_size: int, device: torch.device):
    # Re-seed right before init: weights depend only on the seed and the shapes.
    torch.manual_seed(config.seed)
    model = models.build_model(config.model, vocab_size, config.seq_len, config.norm_position,
                               config.dropout, config.n_layer, config.d_model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    return model, opt


def lr_at(config: TrainConfig, step: int) -> float:
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    return config.learning_rate


def check_health(step: int, mean_loss: float, initial: float) -> None:
    if not math.isfinite(mean_loss) or mean_loss > DIVERGENCE_FACTOR * initial:
        raise Diverged(step, mean_loss)


def run_dry(config: TrainConfig, model, opt, train_seqs: torch.Tensor) -> dict:
    """One batch forward/backward: catches shape, device and memory errors in seconds."""
    batch = train_seqs[: config.batch_size]
    loss = lm_loss(model, batch)
    loss.backward()
    opt.zero_grad(set_to_none=True)
    n_params = sum(p.numel() for p in model.parameters())
    info = {"dry_run": True, "batch_shape": list(batch.shape), "train_shape": list(train_seqs.shape),
            "n_params": n_params, "loss": loss.item()}
    for key, value in info.items():
        print(f"{key}: {value}")
    return info


class LossMeter:
    """Running mean of the train loss, kept on the device so a step costs no host sync."""

    def __init__(self, device: torch.device):
        self.total, self.count = torch.zeros((), device=device), 0

    def add(self, loss: torch.Tensor) -> None:
        self.total += loss.detach()
        self.count += 1

    def pop(self) -> float:
        """The mean since the last pop (one host sync), then reset."""
        mean = self.total.item() / self.count
        self.total.zero_()
        self.count = 0
        return mean


def train_step(config: TrainConfig, model, opt, batch: torch.Tensor, step: int) -> torch.Tensor:
    for group in opt.param_groups:
        group["lr"] = lr_at(config, step - 1)
    loss = lm_loss(model, batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    opt.step()
    return loss


def train_loop(config: TrainConfig, model, opt, train_seqs, val_seqs) -> dict:
    """The fixed-step loop; returns curves and timing. Host syncs only at checks and evals."""
    device = train_seqs.device
    val_curve = [[0, evaluate(model, val_seqs, config.batch_size)]]
    initial, train_curve = val_curve[0][1], []
    since_eval, since_check = LossMeter(device), LossMeter(device)
    batches = batch_stream(len(train_seqs), config.batch_size, config.seed)
    start, eval_time = time.perf_counter(), 0.0
    for step in range(1, config.max_steps + 1):
        loss = train_step(config, model, opt, train_seqs[next(batches).to(device)], step)
        since_eval.add(loss)
        since_check.add(loss)
        last = step == config.max_steps
        if step % HEALTH_EVERY == 0 or last:
            check_health(step, since_check.pop(), initial)
        if step % config.eval_interval == 0 or last:
            train_curve.append([step, since_eval.pop()])  # syncs, so the eval timing starts clean
            eval_start = time.perf_counter()
            val_curve.append([step, evaluate(model, val_seqs, config.batch_size)])
            eval_time += time.perf_counter() - eval_start
            check_health(step, val_curve[-1][1], initial)
            print(f"step {step} | train {train_curve[-1][1]:.4f} | val {val_curve[-1][1]:.4f} | "
                  f"{time.perf_counter() - start:.1f}s", flush=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    total = time.perf_counter() - start
    return {"val_curve": val_curve, "train_curve": train_curve, "train_time_s": total,
            "step_time_s": total - eval_time}


def summarize(config: TrainConfig, run: dict, corpus, n_train: int, n_params: int, device) -> dict:
    val_curve = run["val_curve"]
    conv = convergence_step(val_curve)
    final = val_curve[-1][1]
    return {
        "final_val_loss": final,
        "best_val_loss": min(loss for _, loss in val_curve),
        "final_val_bpc": final / math.log(2),
        "val_curve": val_curve,
        "train_curve": run["train_curve"],
        "convergence_step": conv,
        "convergence_epoch": conv * config.batch_size / n_train,
        "epochs": config.max_steps * config.batch_size / n_train,
        "steps": config.max_steps,
        "train_time_s": run["train_time_s"],
        # Throughput of the training steps alone: evals are excluded so it measures the model.
        "tokens_per_s": config.max_steps * config.batch_size * config.seq_len / run["step_time_s"],
        "peak_memory_mb": peak_memory_mb(device),
        "n_train_samples": n_train,
        "n_params": n_params,
        "device": str(device),
        "dataset_sha256": corpus.sha256,
        "entropy_floor": corpus.entropy_floor,
        "torch_version": torch.__version__,
    }


def write_atomic(path: str | Path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as out:
        json.dump(payload, out, indent=2)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def validate(config: TrainConfig) -> None:
    for key in ("seq_len", "batch_size", "max_steps", "eval_interval", "eval_batches"):
        if getattr(config, key) < 1:
            raise ValueError(f"{key} must be >= 1, got {getattr(config, key)}")


def train(config: TrainConfig, dry_run: bool = False) -> dict:
    """Run one config; returns the metrics (written to config.metrics_path unless dry_run).

    Raises Diverged on NaN/inf or divergence; nothing is written then.
    """
    validate(config)
    seed_everything(config.seed)
    device = pick_device(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    corpus, train_seqs, val_seqs = prepare(config, device)
    model, opt = build(config, corpus.vocab_size, device)
    if dry_run:
        return run_dry(config, model, opt, train_seqs)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    run = train_loop(config, model, opt, train_seqs, val_seqs)
    n_params = sum(p.numel() for p in model.parameters())
    metrics = summarize(config, run, corpus, len(train_seqs), n_params, device)
    write_atomic(config.metrics_path, metrics)
    print_summary(metrics)
    return metrics


def print_summary(metrics: dict) -> None:
    print("---")
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"{key}: {value:.6g}")
        elif not isinstance(value, list):
            print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m executor.train", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="experiment config, .json or .py")
    parser.add_argument("--dry-run", action="store_true", help="one batch forward/backward, then exit")
    args = parser.parse_args(argv)
    try:
        config = config_mod.load(args.config)
        train(config, dry_run=args.dry_run)
    except Diverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (ValueError, TypeError, OSError, datasets.DatasetUnavailable, datasets.ChecksumMismatch) as err:
        # One line: the executor reports the last stderr line as the run's error.
        print("error: " + " ".join(str(err).split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
