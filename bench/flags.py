"""Training-step throughput of every architecture and optimizer flag's variant against the default.

    python bench/flags.py [--model transformer_tiny] [--steps 20] [--rounds 7] [--threads 1]

Each variant is the default config with one flag changed, built by the trainer's own
`executor.train.build` (model and optimizer) and stepped by its own
`executor.step.train_step` (schedule, grad clip, optimizer) on the trainer's batches.
All variants live in one process; each round runs `--steps` steps of every variant in
turn, in an order rotated by one each round, after a warm-up. Two clocks per chunk:

- wall tokens/s, what a run on a quiet machine reports as tokens_per_s;
- tokens per CPU-second of this process (time.process_time). With one torch thread
  this is the throughput of one dedicated core, and it barely moves when other
  processes share the cores, which wall time does not survive on a busy machine.

Printed per variant: the parameter count, the median of each clock's tokens/s over
the rounds, and the median over rounds of the ratio to the default in the same round.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import models  # noqa: E402
from executor import step, train  # noqa: E402
from run_config import TrainConfig  # noqa: E402

VARIANTS = {
    "default (layernorm, gelu, learned, adamw)": {},
    "norm_type=rmsnorm": {"norm_type": "rmsnorm"},
    "activation=relu": {"activation": "relu"},
    "activation=swiglu": {"activation": "swiglu"},
    "pos_encoding=rope": {"pos_encoding": "rope"},
    "n_head=2x": {"n_head": "2x"},
    "optimizer=adam": {"optimizer": "adam"},
    "optimizer=sgd": {"optimizer": "sgd"},
    "optimizer=rmsprop": {"optimizer": "rmsprop"},
    "optimizer=adagrad": {"optimizer": "adagrad"},
    "lr_schedule=cosine": {"lr_schedule": "cosine"},
    "grad_clip=0": {"grad_clip": 0.0},
}


@dataclass
class Arm:
    config: TrainConfig
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    data: torch.Tensor
    batches: object
    n_params: int
    done: int = 0

    def chunk(self, steps: int) -> tuple[float, float]:
        """(wall tokens/s, tokens per CPU-second) of `steps` training steps."""
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            self.done += 1
            loss = step.train_step(self.config, self.model, self.opt, self.data[next(self.batches)], self.done)
        float(loss.detach())  # wait for the device
        tokens = steps * self.config.batch_size * self.config.seq_len
        return tokens / (time.perf_counter() - wall), tokens / (time.process_time() - cpu)


def make_arm(base: TrainConfig, flags: dict) -> Arm:
    if flags.get("n_head") == "2x":
        flags = {**flags, "n_head": 2 * models.spec(base.model).n_head}
    config = replace(base, **flags)
    device = train.pick_device(config.device)
    corpus, data, _ = train.prepare(config, device)
    train.seed_everything(config.seed)
    model, opt = train.build(config, corpus.vocab_size, device)
    batches = train.batch_stream(len(data), config.batch_size, config.seed, device)
    return Arm(config, model, opt, data, batches, sum(p.numel() for p in model.parameters()))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="transformer_tiny")
    p.add_argument("--steps", type=int, default=20, help="steps per variant per round")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per variant first")
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    total = args.warmup + args.rounds * args.steps
    base = TrainConfig(model=args.model, dataset="synthetic", seq_len=args.seq_len, batch_size=args.batch_size,
                       max_steps=total, warmup_steps=args.warmup, learning_rate=1e-3, precision=args.precision,
                       device=args.device, threads=args.threads)
    arms = {name: make_arm(base, flags) for name, flags in VARIANTS.items()}
    for arm in arms.values():
        arm.chunk(args.warmup)
    names, wall, cpu = list(arms), {n: [] for n in arms}, {n: [] for n in arms}
    start = time.perf_counter()
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            w, c = arms[name].chunk(args.steps)
            wall[name].append(w)
            cpu[name].append(c)
    print(f"model {args.model}, seq_len {args.seq_len}, batch {args.batch_size}, {args.rounds} rounds x "
          f"{args.steps} steps per variant, {args.precision}, device {train.pick_device(args.device)}, "
          f"torch threads {torch.get_num_threads()}, {time.perf_counter() - start:.0f} s")
    print("| variant | parameters | tokens per CPU-s | / default | wall tokens/s | / default |")
    print("| --- | --- | --- | --- | --- | --- |")
    default = names[0]
    for name in names:
        ratio = lambda clock: statistics.median(v / d for v, d in zip(clock[name], clock[default]))  # noqa: E731
        print(f"| {name} | {arms[name].n_params:,} | {statistics.median(cpu[name]):,.0f} | {ratio(cpu):.2f} | "
              f"{statistics.median(wall[name]):,.0f} | {ratio(wall):.2f} |")


if __name__ == "__main__":
    main()
