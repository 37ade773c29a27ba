"""The real-text study replayed on banked real curves: the loop's choices over many seed draws.

    python bench/real_replay.py [--bank bench/results/real_text_bank.jsonl] [--draws 40] [--budget 40]
    python bench/real_replay.py --grow 8,16,32 [--bank ...]     # the brute force at n seeds a point

`bench/real_text.py --phase bank` trains every design point of its study at many seeds,
in full, and keeps the log. Here the loop itself (offline planner, checker, early stops)
runs that study again and again, its executor serving the banked run of each design
point and seed instead of training: a run told to stop at a loss target gets its banked
curve cut at the first evaluation at or below it, which is what the trainer would have
trained (the curves are deterministic given the seed). Draw d maps the loop's seeds
0, 1, 2, ... to a fixed random order of the bank's seeds, so each draw is one study on
real curves with other seeds. One real study (`bench/real_text.py --phase study`) is one
draw; this gives the distribution.

Reported per draw: the steps trained until p1 was decided for good, over the 3-seed walk's
7,200, and p1's and p2's verdicts. A draw that asks for more seeds of a point than the
bank holds ends there (reported as "bank exhausted").

--grow N,...: the brute force instead, the grid baseline walking every point at N seeds
(seeds 0..N-1 of the bank, the stop for "every prediction is decided" switched off): each
prediction's verdict at N seeds, and so at what cost, if any, p2 is decided.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import loop  # noqa: E402
import run_config  # noqa: E402
from bench.planners import runs_to_decide  # noqa: E402
from bench.real_text import BANK, study_of, walking_on  # noqa: E402
from planner.baselines import GridPlanner  # noqa: E402
from executor import config_file  # noqa: E402
from executor.atomic import write_atomic  # noqa: E402
from executor.base import RunPaths, RunResult, fresh_start, outcome  # noqa: E402
from planner.offline import OfflinePlanner  # noqa: E402
from trajectory.compute import grid_walk  # noqa: E402

FACTORS = ("norm_position", "learning_rate", "dataset_fraction")


class Exhausted(Exception):
    """The loop asked for a seed of a design point that the bank does not hold."""


def load_bank(path: Path) -> dict[tuple, dict[int, dict]]:
    """design point -> bank seed -> the run's metrics (every run trained in full)."""
    bank: dict[tuple, dict[int, dict]] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r.get("record") != "experiment" or r.get("status") != "completed":
            continue
        point = tuple(r["config"][k] for k in FACTORS)
        bank.setdefault(point, {})[r["seed"]] = r["metrics"]
    return bank


def cut(metrics: dict, stop_at: float | None, max_steps: int) -> dict:
    """What the trainer reports when told to stop at `stop_at`: the curve to its first
    evaluation at or below it (the last evaluation never counts as a stop)."""
    m = copy.deepcopy(metrics)
    curve = m["val_curve"]
    if stop_at is None:
        return m
    for k, (step, loss) in enumerate(curve):
        if k and loss <= stop_at and step < max_steps:
            m["val_curve"] = curve[:k + 1]
            m["steps"], m["stopped_early"] = int(step), True
            m["final_val_loss"] = loss
            m["best_val_loss"] = min(l for _, l in curve[:k + 1])
            m["train_time_s"] = metrics["train_time_s"] * step / max_steps
            m["train_curve"] = [p for p in m.get("train_curve", []) if p[0] <= step]
            break
    return m


class BankExecutor:
    name = "bank"

    def __init__(self, bank: dict, order: list[int]):
        self.bank, self.order = bank, order

    def run(self, config: run_config.TrainConfig, paths: RunPaths, timeout_s: float) -> RunResult:
        eid = config.experiment_id
        config_file.write(config, paths.config_dir)
        fresh_start(paths, eid)
        point = run_config.to_dict(config)
        runs = self.bank[tuple(point[k] for k in FACTORS)]
        if config.seed >= len(self.order) or self.order[config.seed] not in runs:
            raise Exhausted(f"seed {config.seed} of {point}")
        metrics = cut(runs[self.order[config.seed]], config.stop_at_loss, config.max_steps)
        paths.err(eid).write_text("")
        paths.out(eid).write_text("")
        write_atomic(paths.metrics(eid), json.dumps(metrics) + "\n")
        return outcome(eid, 0, False, metrics["train_time_s"], paths, timeout_s)  # what it trained

    def close(self) -> None:
        pass


def replay(bank: dict, order: list[int], budget: int, data_dir: str, grid_seeds: int | None = None) -> dict:
    """One study on the bank: the offline planner's, or with `grid_seeds` the grid's walk."""
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        args, study = study_of(Path(tmp), budget, data_dir, max(10, grid_seeds or 0))
        planner = OfflinePlanner(max_seeds=args.max_seeds, base_seed=0, max_runs=budget) if grid_seeds is None \
            else GridPlanner(seeds_per_point=grid_seeds, base_seed=0)
        try:
            with contextlib.redirect_stdout(io.StringIO()), walking_on(grid_seeds is not None):
                reason = loop.research(study, planner, BankExecutor(bank, order), loop.LoopOptions.from_args(args))
        except Exhausted as e:
            reason = f"bank exhausted: {e}"
        records = study.records
        walk = grid_walk(records, study.space)
        out = {"stop": reason, "runs": len(records), "steps": sum(r.steps or 0 for r in records),
               "walk_steps": walk.steps if walk else None, "predictions": {}}
        for pid in ("p1", "p2"):
            v = study.verdicts[pid]
            n = runs_to_decide(study, [pid]) if v.decided else None
            out["predictions"][pid] = {
                "status": v.status, "effect": v.effect, "evidence": v.evidence, "n_pairs": v.n_pairs,
                "confidence": v.confidence, "interval": v.interval,
                "runs_to_decide": n, "steps_to_decide": sum(r.steps or 0 for r in records[:n]) if n else None,
                "order": [(r.config["norm_position"], r.config["learning_rate"], r.config["dataset_fraction"],
                           r.seed, r.steps) for r in records[:n]] if n else None}
        return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bank", type=Path, default=BANK)
    p.add_argument("--draws", type=int, default=40)
    p.add_argument("--budget", type=int, default=40)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--show", type=int, default=0, help="print the runs until p1 was decided for this many draws")
    p.add_argument("--grow", help="comma-separated seeds per point: the brute force at each")
    args = p.parse_args(argv)
    bank = load_bank(args.bank)
    seeds = sorted(set.intersection(*(set(runs) for runs in bank.values())))
    if args.grow:
        for n in (int(x) for x in args.grow.split(",")):
            out = replay(bank, seeds, 8 * n, args.data_dir, grid_seeds=n)
            for pid, v in out["predictions"].items():
                lo, hi = v["interval"] or (math.nan, math.nan)
                # p1: pre/post steps (its effect is the log benefit, log post/pre); p2: how much
                # weaker the effect is at N > 5000 (margin 1.05x)
                sign, what = (-1, "pre/post") if pid == "p1" else (1, "weaker by")
                ends = sorted(math.exp(sign * x) for x in (lo, hi))
                print(f"{n:3d} seeds a point ({out['runs']} runs, {out['steps']} steps): {pid} {v['status']} "
                      f"at {v['confidence']:.3f}, {what} {math.exp(sign * v['effect']):.4f}x "
                      f"[{ends[0]:.4f}, {ends[1]:.4f}], e-value {v['evidence']:.3g}, {v['n_pairs']} pairs", flush=True)
        return
    started, rows = time.perf_counter(), []
    for d in range(args.draws):
        order = seeds if d == 0 else random.Random(d).sample(seeds, len(seeds))
        out = replay(bank, order, args.budget, args.data_dir)
        rows.append(out)
        p1, p2 = out["predictions"]["p1"], out["predictions"]["p2"]
        frac = p1["steps_to_decide"] / out["walk_steps"] if p1["steps_to_decide"] else None
        print(f"draw {d:3d}: p1 {p1['status']:9s} steps {p1['steps_to_decide']} "
              f"({'-' if frac is None else f'{frac:.3f}'}), runs {p1['runs_to_decide']}; "
              f"p2 {p2['status']}; {out['runs']} runs, {out['steps']} steps; {out['stop'][:60]}", flush=True)
        if d < args.show and p1["order"]:
            print("   ", p1["order"])
    fracs = [r["predictions"]["p1"]["steps_to_decide"] / r["walk_steps"] for r in rows
             if r["predictions"]["p1"]["steps_to_decide"]]
    right = sum(r["predictions"]["p1"]["status"] == "confirmed" for r in rows)
    print(f"\np1 confirmed in {right}/{len(rows)} draws; steps until decided / the walk's: "
          f"median {statistics.median(fracs):.3f}, quartiles "
          f"{statistics.quantiles(fracs, n=4)[0]:.3f}-{statistics.quantiles(fracs, n=4)[2]:.3f}, "
          f"max {max(fracs):.3f}; at <= 0.2: {sum(f <= 0.2 for f in fracs)}/{len(fracs)}")
    p2 = {s: sum(r["predictions"]["p2"]["status"] == s for r in rows) for s in ("confirmed", "refuted", "undecided")}
    print(f"p2: {p2}; wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
