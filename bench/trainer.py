"""The built-in trainer against a bare step loop and against the device's matmul rate.

    python bench/trainer.py [--model transformer_tiny] [--steps 300] [--repeats 3] [--precision fp32]
                            [--threads 0]

The bare loop is the limit for our trainer: forward, loss, backward, optimizer step
on batches already in memory, nothing else. The trainer adds its schedule, grad
clipping, the on-device health watch, loss meters and batch sampling; its evaluation
time is excluded (tokens_per_s counts training steps only). Both run interleaved in
one process, several times, each repeat followed by a few large matmuls, so the three
figures see the same machine load; the medians are printed.

Model FLOP/s = 6 * N * tokens/s, N = every parameter (the tied embedding once: it
stands for the LM head's matmul). 6N is forward (2N) plus backward (4N) per token; it
leaves out attention's scores and weighted sum, 12 * n_layer * d_model * seq_len more
per token (+16% for transformer_small at seq_len 256), and the embedding lookups it
counts are not matmuls. The reference is a dense n x n x n matmul in the same dtype
the model's matmuls run in (fp32, or bf16 under --precision bf16), median of several.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from executor import step, train  # noqa: E402
from run_config import TrainConfig  # noqa: E402


def bare(config: TrainConfig) -> float:
    """Tokens/s of the plainest loop on the trainer's own model, data and optimizer."""
    device = train.pick_device(config.device)
    corpus, train_seqs, _ = train.prepare(config, device)
    model, opt = train.build(config, corpus.vocab_size, device)
    gen = torch.Generator().manual_seed(0)
    order = torch.randint(len(train_seqs), (config.max_steps, config.batch_size), generator=gen).to(device)
    start = time.perf_counter()
    for i in range(config.max_steps):
        loss = step.step_loss(config, model, train_seqs[order[i]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    float(loss.detach())  # one sync at the end
    return config.max_steps * config.batch_size * config.seq_len / (time.perf_counter() - start)


def ours(config: TrainConfig, tmp: Path) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):  # its progress lines and summary
        return train.train(TrainConfig(**{**vars(config), "metrics_path": str(tmp / "m.json")}))


def matmul_flops(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of one n^3 matmul: the median over `reps` timed products after a warm-up."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        (a @ b).sum().item()  # the sum is O(n^2); .item() waits for the product
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times[1:])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="transformer_tiny")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--device", default="auto")
    p.add_argument("--matmul-n", type=int, default=2048)
    p.add_argument("--threads", type=int, default=0, help="torch threads for all three; 0 = torch's default")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    config = TrainConfig(model=args.model, dataset="synthetic", seq_len=args.seq_len,
                         batch_size=args.batch_size, max_steps=args.steps, precision=args.precision,
                         eval_interval=max(1, args.steps // 10), learning_rate=1e-3, device=args.device,
                         threads=args.threads)
    device = train.pick_device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    tmp = Path(tempfile.mkdtemp())
    bares, trainers, matmuls, n_params = [], [], [], 0
    bare(TrainConfig(**{**vars(config), "max_steps": 5}))  # first-call costs (lazy imports) paid here
    for _ in range(args.repeats):
        bares.append(bare(config))
        metrics = ours(config, tmp)
        trainers.append(metrics["tokens_per_s"])
        n_params = metrics["n_params"]
        matmuls.append(matmul_flops(device, dtype, args.matmul_n))
    b, t, mm = (statistics.median(x) for x in (bares, trainers, matmuls))
    flops = lambda tokens_per_s: 6 * n_params * tokens_per_s  # noqa: E731
    print(f"model {args.model} ({n_params:,} parameters), seq_len {args.seq_len}, batch {args.batch_size}, "
          f"{args.steps} steps, {args.precision}, {args.repeats} repeats, device {device}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"bare step loop:   {b:12,.0f} tokens/s  {flops(b) / 1e9:8.2f} GFLOP/s  "
          f"{flops(b) / mm:6.1%} of the matmul (median)")
    print(f"our trainer:      {t:12,.0f} tokens/s  {flops(t) / 1e9:8.2f} GFLOP/s  "
          f"{flops(t) / mm:6.1%} of the matmul (median, evaluation excluded)")
    print(f"trainer / bare:   {t / b:12.2f}   (target >= 0.9)")
    print(f"{args.matmul_n}^3 {args.precision} matmul: {mm / 1e9:8.1f} GFLOP/s (median of "
          f"{args.repeats} x 5 products)")
    print("model FLOP/s = 6 x parameters x tokens/s (attention scores not counted)")


if __name__ == "__main__":
    main()
