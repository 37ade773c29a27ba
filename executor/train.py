"""The training entry point: `python -m executor.train CONFIG [--dry-run]`.

Trains one model on one dataset as the config says, evaluates on a fixed set of val
windows, and writes the metrics JSON atomically. Runs on its own (by hand) and is what
the executor spawns. Imports only the stdlib, numpy, torch, models, datasets and the
executor's config contract and step (executor/step.py: precision, compile, the watchers),
and the plugins the config names (models/plugins.py), before it reads the rest.

Fixed across runs, so that runs compare: the val windows (the first
eval_batches * batch_size of the val split), the loss (mean nats/token), and evaluation
itself: always the eager model in fp32, whatever `precision` and `compile` say, so a
bf16 or compiled arm is judged by the weights it learned, not by a different measuring
instrument. What a config may vary about training, with defaults that are the trainer
before these flags: the optimizer (AdamW), the schedule (linear warmup for warmup_steps,
then constant: convergence speed is then not shaped by where a decay happens to end;
cosine and linear decay to zero at max_steps are the alternatives, executor/optim.py),
and grad clipping (global norm 1.0; 0 = off).

The step loop makes no host sync: batches are indexed on the device from a
per-epoch permutation copied there once, losses are summed on the device, and the
NaN/divergence watch is kept there too; all are read at eval points only.

Exit codes: 0 done, 2 bad config, data unavailable or compile failed, 3 loss diverged
(NaN/inf, or train loss above DIVERGENCE_FACTOR x the initial loss).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import resource
import sys
import time

import numpy as np
import torch

import datasets
import models
import run_config
from executor import config_file, threads
from executor.atomic import write_atomic
from executor.base import DIVERGED_EXIT
from executor.optim import make_optimizer
from executor.step import (HEALTH_EVERY, CompileFailed, Diverged, Health, LossMeter, check_health,
                           compile_step_model, lm_loss, step_loss, train_step)
from models.plugins import PluginError, load_config_plugins
from run_config import TrainConfig, convergence_step


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def select_gpus(cuda_devices: str | None) -> None:
    """Restrict this process to the listed GPUs; must run before the first CUDA call."""
    if cuda_devices is None or os.environ.get("CUDA_VISIBLE_DEVICES") == cuda_devices:
        return
    if torch.cuda.is_initialized():  # only when train() is called twice in one process
        print(f"warning: cuda_devices={cuda_devices!r} ignored: CUDA is already initialised "
              "in this process", file=sys.stderr)
        return
    os.environ["CUDA_VISIBLE_DEVICES"] = cuda_devices


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def batch_stream(n: int, batch_size: int, seed: int, device: torch.device = torch.device("cpu")):
    """Indices (on `device`) of successive batches: epoch-shuffled, each epoch a fresh permutation.

    Driven only by `seed` and n, so both arms of a comparison see the same data order
    on any device. Each epoch's permutation is drawn on the CPU and copied once, without
    waiting (pinned memory), so taking a batch costs no host sync.
    """
    gen = torch.Generator().manual_seed(seed)
    pending = torch.empty(0, dtype=torch.long, device=device)
    while True:
        while len(pending) < batch_size:
            perm = torch.randperm(n, generator=gen)
            if device.type == "cuda":
                perm = perm.pin_memory()
            pending = torch.cat([pending, perm.to(device, non_blocking=True)])
        yield pending[:batch_size]
        pending = pending[batch_size:]


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


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


def peak_gpu_mb(device: torch.device) -> float | None:
    """Peak memory held by tensors since train() reset the counter (model and data included)."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def prepare(config: TrainConfig, device: torch.device):
    """Train/val tensors on the device (uint8 when the vocab fits, cast per batch) and the corpus."""
    corpus = datasets.load(config.dataset, config.data_dir, fetch=False)  # the loop fetched it
    dtype = np.uint8 if corpus.vocab_size <= 256 else np.int64
    subset_seed = config.seed if config.data_subset == "seed" else None
    train_np = datasets.train_sequences(corpus, config.seq_len, config.dataset_fraction, subset_seed)
    val_np = datasets.val_sequences(corpus, config.seq_len, config.eval_batches * config.batch_size)
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=dtype)).to(device)  # noqa: E731
    return corpus, to(train_np), to(val_np)


def build(config: TrainConfig, vocab_size: int, device: torch.device):
    # Re-seed right before init: weights depend only on the seed and the shapes.
    torch.manual_seed(config.seed)
    model = models.build(config, vocab_size).to(device)
    return model, make_optimizer(config, model.parameters(), device)


def run_dry(config: TrainConfig, model, opt, train_seqs: torch.Tensor) -> dict:
    """One batch forward/backward as training runs it (precision, compile): catches shape,
    device, memory and compile errors before a long run."""
    batch = train_seqs[: config.batch_size]
    step_model, compile_s = compile_step_model(config, model, batch)
    for _ in range(2):  # the second pass is timed: the first pays for allocations
        started = time.perf_counter()
        loss = step_loss(config, step_model, batch)
        loss.backward()
        opt.zero_grad(set_to_none=True)
    step_s = time.perf_counter() - started
    n_params = sum(p.numel() for p in model.parameters())
    info = {"dry_run": True, "batch_shape": list(batch.shape), "train_shape": list(train_seqs.shape),
            "n_params": n_params, "loss": loss.item(), "precision": config.precision,
            "compile_time_s": compile_s, "step_time_s": round(step_s, 4)}
    for key, value in info.items():
        print(f"{key}: {value}")
    return info


def train_loop(config: TrainConfig, model, step_model, opt, train_seqs, val_seqs,
               governor: threads.Governor | None = None) -> dict:
    """The fixed-step loop; returns curves and timing. Host syncs only at eval points.

    `step_model` trains (compiled or not; it shares `model`'s weights); `model` evaluates.
    With `stop_at_loss` it ends at the first evaluation at or below that loss: the rest of
    the curve enters no score (parser/checker/early_stop.py). A `governor` looks at the
    machine's load every few seconds and changes the thread count if it moved.
    """
    device = train_seqs.device
    start = time.perf_counter()  # train_time_s covers every evaluation, step 0's included
    val_curve = [[0, evaluate(model, val_seqs, config.batch_size)]]
    initial, train_curve = val_curve[0][1], []
    since_eval, health = LossMeter(device), Health(device, initial)
    batches = batch_stream(len(train_seqs), config.batch_size, config.seed, device)
    eval_time = time.perf_counter() - start
    step = 0
    for step in range(1, config.max_steps + 1):
        loss = train_step(config, step_model, opt, train_seqs[next(batches)], step)
        if governor is not None:  # CPU only: reading the load costs no device sync
            governor.recheck(step)
        last = step == config.max_steps
        since_eval.add(loss)
        health.add(loss, step, close=step % HEALTH_EVERY == 0 or last)
        if step % config.eval_interval == 0 or last:
            health.check()  # syncs, so the eval timing starts clean
            train_curve.append([step, since_eval.pop()])
            eval_start = time.perf_counter()
            val_curve.append([step, evaluate(model, val_seqs, config.batch_size)])
            eval_time += time.perf_counter() - eval_start
            check_health(step, val_curve[-1][1], initial)
            print(f"step {step} | train {train_curve[-1][1]:.4f} | val {val_curve[-1][1]:.4f} | "
                  f"{time.perf_counter() - start:.1f}s", flush=True)
            if config.stop_at_loss is not None and val_curve[-1][1] <= config.stop_at_loss and not last:
                print(f"stopped early at step {step}: val loss reached the target {config.stop_at_loss:.4f}",
                      flush=True)
                break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    total = time.perf_counter() - start
    return {"val_curve": val_curve, "train_curve": train_curve, "train_time_s": total,
            "step_time_s": total - eval_time, "steps": step}


def summarize(config: TrainConfig, run: dict, corpus, n_train: int, n_params: int, device) -> dict:
    gpu_mb, rss_mb = peak_gpu_mb(device), peak_rss_mb()
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
        "epochs": run["steps"] * config.batch_size / n_train,
        "steps": run["steps"],  # trained: fewer than max_steps when it stopped at its target
        "stopped_early": run["steps"] < config.max_steps,
        "train_time_s": run["train_time_s"],
        # Throughput of the training steps alone: evals are excluded so it measures the model.
        "tokens_per_s": run["steps"] * config.batch_size * config.seq_len / run["step_time_s"],
        # The run's device memory: GPU tensors on CUDA, the process's peak RSS on a CPU.
        "peak_memory_mb": rss_mb if gpu_mb is None else gpu_mb,
        "peak_gpu_memory_mb": gpu_mb,
        "peak_rss_mb": rss_mb,
        "n_train_samples": n_train,
        "n_params": n_params,
        "device": str(device),
        "precision": config.precision,
        "compile": config.compile,
        "compile_time_s": run["compile_time_s"],
        "dataset_sha256": corpus.sha256,
        "entropy_floor": corpus.entropy_floor,
        "torch_version": torch.__version__,
    }


def validate(config: TrainConfig) -> None:
    """Types, choices and ranges (run_config.py's one table), sizes the model can take,
    and user factors only where a plugin model declares them, with their declared values."""
    run_config.check(config)
    declared = models.declared_factors(config.model)
    for key, value in config.user_factors.items():
        if key not in declared:
            raise ValueError(f"{key}: the built-in trainer has no factor {key!r} (model {config.model} does not "
                             "declare it); run your own script with --executor command, or register a model "
                             "that declares it with --plugin")
        declared[key].check(value)
    if not models.is_plugin(config.model):
        models.resolve_sizes(config.model, config.n_layer, config.d_model, config.n_head)


def free_bytes(device: torch.device) -> int:
    """Memory a run may still take: free CUDA memory, or the host's MemAvailable."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/meminfo") as info:
            line = next(row for row in info if row.startswith("MemAvailable:"))
        return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def activation_bytes(config: TrainConfig, vocab_size: int) -> int:
    """A lower bound on what one fp32 training step keeps for backward, in bytes:
    4 * B*T * (n_layer * (16 d + 2 h T) + 3 V) (per token and layer: the block's
    d-wide and 4d-wide activations, attention scores and probabilities per head; and
    the logits with their softmax and gradient)."""
    n_layer, n_head, d = models.resolve_sizes(config.model, config.n_layer, config.d_model, config.n_head)
    per_token = n_layer * (16 * d + 2 * n_head * config.seq_len) + 3 * vocab_size
    return 4 * config.batch_size * config.seq_len * per_token


def check_fits(config: TrainConfig, vocab_size: int, device: torch.device) -> None:
    """Refuse, before allocating, a batch whose activations alone exceed the free memory."""
    if models.is_plugin(config.model):
        return  # the user's architecture: no estimate of its activations
    need, free = activation_bytes(config, vocab_size), free_bytes(device)
    if need > free:
        raise ValueError(f"batch_size={config.batch_size} x seq_len={config.seq_len} needs at least "
                         f"{need / 2**30:.1f} GiB of activations; {device} has {free / 2**30:.1f} GiB free")


@contextlib.contextmanager
def timed(phases: dict, name: str):
    start = time.perf_counter()
    yield
    phases[name] = time.perf_counter() - start


def train(config: TrainConfig, dry_run: bool = False, started: float | None = None) -> dict:
    """Run one config; returns the metrics (written to config.metrics_path unless dry_run).

    `started`: time.time() when the process began this run (main's entry), for the
    timeline in the metrics; default now. Raises Diverged on NaN/inf or divergence;
    nothing is written then.
    """
    phases = {"config": 0.0 if started is None else time.time() - started}
    started = time.time() if started is None else started
    validate(config)
    select_gpus(config.cuda_devices)
    seed_everything(config.seed)
    device = pick_device(config.device)
    # An explicit `threads` wins; else, on a CPU, the count follows the cores free (executor/threads.py)
    governor, fixed = threads.for_run(config.threads, device.type, torch.set_num_threads)
    with timed(phases, "data"):
        corpus, train_seqs, val_seqs = prepare(config, device)
    check_fits(config, corpus.vocab_size, device)
    with timed(phases, "model"):
        model, opt = build(config, corpus.vocab_size, device)
    if dry_run:
        return run_dry(config, model, opt, train_seqs)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step_model, compile_s = compile_step_model(config, model, train_seqs[: config.batch_size])
    if governor is not None:
        governor.start()  # the load measured over data, model and compile: little idle wait
    run = train_loop(config, model, step_model, opt, train_seqs, val_seqs, governor)
    run["compile_time_s"] = compile_s
    n_params = sum(p.numel() for p in model.parameters())
    metrics = summarize(config, run, corpus, len(train_seqs), n_params, device)
    metrics.update(governor.metrics() if governor else fixed)
    # Where the process's time went (bench/overhead.py reads it): phases in seconds, and
    # wall-clock stamps of this run's start and of the moment before the metrics write.
    phases.update(compile=compile_s or 0.0, train=run["train_time_s"])
    metrics.update(phases_s=phases, started_unix=started, finished_unix=time.time())
    write_atomic(config.metrics_path, json.dumps(metrics, indent=2))
    print_summary(metrics)
    return metrics


def print_summary(metrics: dict) -> None:
    print("---")
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"{key}: {value:.6g}")
        elif not isinstance(value, (list, dict)):
            print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m executor.train", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="experiment config, .json or .py")
    parser.add_argument("--dry-run", action="store_true", help="one batch forward/backward, then exit")
    args = parser.parse_args(argv)
    started = time.time()
    try:
        values = config_file.read(args.config)
        load_config_plugins(values.get("plugins", "") if isinstance(values, dict) else "")
        config = run_config.from_dict(values)
        train(config, dry_run=args.dry_run, started=started)
    except Diverged as err:
        print(f"error: {err}", file=sys.stderr)
        return DIVERGED_EXIT
    except (ValueError, TypeError, OSError, CompileFailed, PluginError, datasets.DatasetUnavailable,
            datasets.ChecksumMismatch) as err:
        # One line: the executor reports the last stderr line as the run's error.
        print("error: " + " ".join(str(err).split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
