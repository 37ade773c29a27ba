"""Wall time of the offline quickstart and the loop's overhead per experiment.

    python bench/quickstart.py [--max-experiments 20] [--repeats 1]

Runs the real CLI (`loop.py --hypothesis examples/quickstart.yaml`) in a fresh run
directory and splits each run's time, from the log, into training (the trainer's
own `train_time_s`: its step loop and evaluations) and everything else: process
start (fork), data load, model build, metrics write, record parse, checking,
planning and the trajectory write. Prints medians over repeats.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_study(max_experiments: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "loop.py", "--hypothesis", "examples/quickstart.yaml",
                               "--max-experiments", str(max_experiments), "--out", str(run_dir)],
                              cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"quickstart failed:\n{done.stderr}")
        lines = [json.loads(x) for x in (run_dir / "research_log.jsonl").read_text().splitlines()]
    exps = [r for r in lines if r.get("record") == "experiment"]
    stop = next(r for r in lines if r.get("record") == "stop")
    train = sum((r["metrics"] or {}).get("train_time_s", 0.0) for r in exps)
    executor = sum(r["wall_time_s"] for r in exps)
    first = datetime.fromisoformat(exps[0]["started_at"])
    last = datetime.fromisoformat(exps[-1]["finished_at"])
    in_loop = (last - first).total_seconds()  # first run's start to last run's end
    return {"wall_s": wall, "n": len(exps), "train_s": train, "executor_s": executor,
            "startup_s": wall - in_loop, "in_loop_s": in_loop, "stop": stop["reason"],
            "tree": done.stdout.split("Hypothesis", 1)[-1]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--max-experiments", type=int, default=20)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()
    results = [one_study(args.max_experiments) for _ in range(args.repeats)]
    med = {k: statistics.median(r[k] for r in results) for k in
           ("wall_s", "n", "train_s", "executor_s", "startup_s", "in_loop_s")}
    per_exp = med["in_loop_s"] / med["n"]
    around = (med["executor_s"] - med["train_s"]) / med["n"]
    between = (med["in_loop_s"] - med["executor_s"]) / med["n"]
    print(f"command: python loop.py --hypothesis examples/quickstart.yaml --max-experiments {args.max_experiments}")
    print(f"repeats: {args.repeats} (medians)")
    print(f"wall time, whole study:            {med['wall_s']:8.1f} s  ({med['n']:.0f} experiments)")
    print(f"  start-up (imports, forkserver):   {med['startup_s']:8.1f} s")
    print(f"per experiment:                    {per_exp:8.2f} s")
    print(f"  training (train_time_s):         {med['train_s'] / med['n']:8.2f} s")
    print(f"  process, data, model, write:     {around:8.2f} s")
    print(f"  parse, check, plan, trajectory:  {between:8.2f} s")
    print(f"overhead outside training:         {100 * (around + between) / per_exp:8.1f} % of an experiment")
    print(f"overhead incl. start-up:           {100 * (1 - med['train_s'] / med['wall_s']):8.1f} % of the study")
    print(f"stop reason: {results[-1]['stop']}")
    print("Hypothesis" + results[-1]["tree"])


if __name__ == "__main__":
    main()
