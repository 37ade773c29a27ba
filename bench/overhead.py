"""Per-run overhead outside training: one ~30 s run through the local executor.

    python bench/overhead.py [--repeats 3] [--max-steps 2000] [--threads 1] [--spawn]

The run is the quickstart's (transformer_tiny, synthetic, seq_len 64, batch 16, an
eval every 25 steps on 4 batches), made ~30 s long on 2 CPU cores by --max-steps.

Overhead = the executor's wall time for the run (LocalExecutor.run: config write,
forkserver child, training, metrics write, exit) minus the trainer's own training
time (`train_time_s`: its step loop and evaluations). The run's metrics carry a
timeline (started_unix, phases_s, finished_unix), which splits the overhead into:

  start       executor.run called -> the child's main() entered (config files
              written, fork from the warm server, stdio redirected)
  config      reading the config file
  data        building the corpus and the train/val tensors
  model       building the model and optimizer (incl. importing models.transformer)
  compile     the compile warm-up (0 unless compile: true)
  other       seeding, device pick, summary (the rest of the child's in-process time)
  end         metrics write + fsync, summary print, exit, join, reading the result

The forkserver itself starts once per loop (it imports torch); a short warm-up run
pays that first and is reported apart. Medians over --repeats runs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from executor.base import RunPaths  # noqa: E402
from run_config import TrainConfig  # noqa: E402
from executor.local import LocalExecutor  # noqa: E402

PARTS = ("start", "config", "data", "model", "compile", "other", "end")


def one_run(executor: LocalExecutor, config: TrainConfig, run_dir: Path, eid: str) -> dict:
    paths = RunPaths.under(run_dir)
    config = TrainConfig(**{**vars(config), "experiment_id": eid,
                            "metrics_path": str(paths.metrics(eid).resolve())})
    called = time.time()
    result = executor.run(config, paths, timeout_s=600)
    returned = time.time()
    if result.status != "completed":
        sys.exit(f"run {eid} {result.status}: {result.error}\n{result.stderr_tail}")
    m = json.loads(paths.metrics(eid).read_text())
    phases = m["phases_s"]
    inside = m["finished_unix"] - m["started_unix"]
    parts = {"start": m["started_unix"] - called, **{k: phases[k] for k in ("config", "data", "model", "compile")},
             "other": inside - sum(phases.values()), "end": returned - m["finished_unix"]}
    return {"wall": result.wall_time_s, "train": m["train_time_s"], **parts,
            "overhead": result.wall_time_s - m["train_time_s"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="transformer_tiny")
    p.add_argument("--max-steps", type=int, default=2000)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads in the run (1: steady on shared cores)")
    p.add_argument("--spawn", action="store_true", help="plain subprocess per run instead of the forkserver")
    args = p.parse_args()
    config = TrainConfig(model=args.model, dataset="synthetic", seq_len=args.seq_len, batch_size=args.batch_size,
                         max_steps=args.max_steps, eval_interval=25, eval_batches=4, learning_rate=1e-3, device="cpu",
                         threads=args.threads)
    executor = LocalExecutor(fork=not args.spawn)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        one_run(executor, TrainConfig(**{**vars(config), "max_steps": 2, "eval_interval": 1}),
                Path(tmp), "warmup")
        first = time.perf_counter() - start
        runs = [one_run(executor, config, Path(tmp), f"exp_{i:04d}") for i in range(1, args.repeats + 1)]
    executor.close()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    mode = "plain subprocess (--spawn)" if args.spawn else "forkserver"
    print(f"local executor, {mode}; {args.model}, synthetic, seq_len {args.seq_len}, batch {args.batch_size}, "
          f"{args.max_steps} steps; medians of {args.repeats} runs")
    print(f"first (warm-up) run, which starts the forkserver when forking: {first:6.2f} s wall")
    print(f"executor.run wall:  {med['wall']:8.3f} s")
    print(f"training (train_time_s): {med['train']:8.3f} s")
    print(f"overhead:           {med['overhead']:8.3f} s = {med['overhead'] / med['wall']:6.2%} of the run "
          "(target < 5%)")
    for part in PARTS:
        print(f"  {part:8s} {med[part]:8.3f} s")
    print(f"  (parts sum to {sum(med[k] for k in PARTS):.3f} s; medians need not add up exactly)")


if __name__ == "__main__":
    main()
