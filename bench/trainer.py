"""The built-in trainer against a bare step loop: same model, batch, data, process.

    python bench/trainer.py [--model transformer_tiny] [--steps 300] [--repeats 3]

The bare loop is the limit for our trainer: forward, loss, backward, optimizer step
on batches already in memory, nothing else. The trainer adds its schedule, grad
clipping, health checks, loss meters and batch sampling; its evaluation time is
excluded (tokens_per_s counts training steps only). Both run interleaved in one
process, several times; the medians and their ratio are printed, plus a large
matmul's FLOP/s for scale.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from executor import train  # noqa: E402
from executor.config import TrainConfig  # noqa: E402


def bare(config: TrainConfig) -> float:
    """Tokens/s of the plainest loop on the trainer's own model, data and optimizer."""
    device = train.pick_device(config.device)
    corpus, train_seqs, _ = train.prepare(config, device)
    model, opt = train.build(config, corpus.vocab_size, device)
    gen = torch.Generator().manual_seed(0)
    order = torch.randint(len(train_seqs), (config.max_steps, config.batch_size), generator=gen)
    start = time.perf_counter()
    for step in range(config.max_steps):
        loss = train.lm_loss(model, train_seqs[order[step]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    float(loss)  # one sync at the end
    return config.max_steps * config.batch_size * config.seq_len / (time.perf_counter() - start)


def ours(config: TrainConfig, tmp: Path) -> float:
    metrics = train.train(TrainConfig(**{**vars(config), "metrics_path": str(tmp / "m.json")}))
    return metrics["tokens_per_s"]


def matmul_flops(n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="transformer_tiny")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    config = TrainConfig(model=args.model, dataset="synthetic", seq_len=args.seq_len,
                         batch_size=args.batch_size, max_steps=args.steps,
                         eval_interval=max(1, args.steps // 10), learning_rate=1e-3)
    tmp = Path(__import__("tempfile").mkdtemp())
    bares, trainers = [], []
    for _ in range(args.repeats):
        bares.append(bare(config))
        trainers.append(ours(config, tmp))
    b, t = statistics.median(bares), statistics.median(trainers)
    print(f"model {args.model}, seq_len {args.seq_len}, batch {args.batch_size}, {args.steps} steps, "
          f"{args.repeats} repeats, torch threads {torch.get_num_threads()}")
    print(f"bare step loop:  {b:10.0f} tokens/s (median)")
    print(f"our trainer:     {t:10.0f} tokens/s (median, evaluation excluded)")
    print(f"ratio:           {t / b:10.2f}   (target >= 0.9)")
    print(f"1024^3 matmul:   {matmul_flops() / 1e9:10.1f} GFLOP/s on this device")


if __name__ == "__main__":
    main()
