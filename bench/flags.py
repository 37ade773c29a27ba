"""Tokens/s of every architecture and optimizer flag's variant against the default, side by side.

    python bench/flags.py [--model transformer_small] [--steps 20] [--repeats 3] [--threads 1]

Each variant is the default config with one flag changed; all run through the built-in
trainer (`executor.train.train`, evaluation excluded from tokens/s) in one process,
every repeat running every variant once, in an order rotated by one each repeat so that
no variant always runs first or last. Printed per variant: the median tokens/s, the
median of its per-repeat ratio to the default of the same repeat (robust to load that
drifts between repeats), the parameter count, and the final val loss of the first
repeat (a check that the variant trained, not a comparison: the runs are short).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import models  # noqa: E402
from executor import train  # noqa: E402
from executor.config import TrainConfig  # noqa: E402

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


def variant_config(base: TrainConfig, flags: dict) -> TrainConfig:
    if flags.get("n_head") == "2x":
        flags = {**flags, "n_head": 2 * models.spec(base.model).n_head}
    return replace(base, **flags)


def run(config: TrainConfig) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):  # progress lines and summary
        return train.train(config)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="transformer_small")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    base = TrainConfig(model=args.model, dataset="synthetic", seq_len=args.seq_len, batch_size=args.batch_size,
                       max_steps=args.steps, eval_interval=args.steps, eval_batches=1, learning_rate=1e-3,
                       precision=args.precision, device=args.device, threads=args.threads,
                       metrics_path=str(tmp / "m.json"))
    configs = {name: variant_config(base, flags) for name, flags in VARIANTS.items()}
    run(replace(base, max_steps=2, eval_interval=2))  # first-call costs (lazy imports) paid here
    names = list(configs)
    speed = {name: [] for name in names}
    first: dict[str, dict] = {}
    start = time.perf_counter()
    for r in range(args.repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            metrics = run(configs[name])
            speed[name].append(metrics["tokens_per_s"])
            first.setdefault(name, metrics)
    default = names[0]
    print(f"model {args.model}, seq_len {args.seq_len}, batch {args.batch_size}, {args.steps} steps, "
          f"{args.precision}, {args.repeats} repeats, device {train.pick_device(args.device)}, "
          f"torch threads {torch.get_num_threads()}, {time.perf_counter() - start:.0f} s")
    print("| variant | parameters | tokens/s (median) | / default (median of paired ratios) | final val loss |")
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        ratios = [v / d for v, d in zip(speed[name], speed[default])]
        print(f"| {name} | {first[name]['n_params']:,} | {statistics.median(speed[name]):,.0f} | "
              f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}) | "
              f"{first[name]['final_val_loss']:.3f} |")


if __name__ == "__main__":
    main()
