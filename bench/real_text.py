"""The issue-16 study on real text: compute until each prediction is decided, against the
full 3-seed grid walk, and the verdicts against a brute-force estimate with many seeds.

    python bench/real_text.py [--data-dir ../shared/data] [--budget 40] [--brute-seeds 8]
                              [--phase study|brute|both] [--target 3.0]

Tiny shakespeare (byte level), transformer_tiny, the quickstart's grid on real text:
norm_position pre/post x learning_rate 1e-3/3e-3 x dataset_fraction 0.05/0.5 (N = 772
and 7,722 training sequences), 300 steps, and its two predictions:

  p1  "Val loss converges 20% faster with pre-norm vs post-norm at N < 5000 samples"
  p2  "Effect diminishes at N > 5000 samples"          (an interaction, 5% margin)

study: the loop itself (offline planner, built-in trainer, `--max-experiments` budget),
       through `loop.research` as `python loop.py` runs it. Reported per prediction: the
       runs and steps trained until it was decided for good, and in all, against the
       walk's steps (every design point at 3 seeds, 300 steps each).
brute: the same hypothesis walked by the grid baseline at `--brute-seeds` seeds per
       design point, so the checker sees every cell at that many seeds; its effect
       estimates and 90% intervals are the reference the study's verdicts are read
       against.

--target LOSS runs the study (only) with p1's loss target written in ("Reaches val loss 3.0
20% sooner ..."), so no pair needs to train in full to fix its cell's target.

Both phases train for real on the CPU, one run after another (minutes per phase on a
free core; the figures are steps and verdicts, which do not depend on the machine's
speed). Results: bench/results/real_text.json.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

import loop  # noqa: E402
from bench.planners import runs_to_decide  # noqa: E402
from executor.local import LocalExecutor  # noqa: E402
from planner.baselines import GridPlanner  # noqa: E402
from planner.offline import OfflinePlanner  # noqa: E402
from trajectory.compute import grid_walk  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "real_text.json"
BANK = ROOT / "bench" / "results" / "real_text_bank.jsonl"
HYPOTHESIS = {"hypothesis": {
    "claim": "Pre-norm transformers converge faster than post-norm ones when real text is scarce",
    "predictions": ["Val loss converges 20% faster with pre-norm vs post-norm at N < 5000 samples",
                    "Effect diminishes at N > 5000 samples"],
    "initial_config": {"model": "transformer_tiny", "dataset": "tinyshakespeare",
                       "norm_position": ["pre", "post"], "learning_rate": [1e-3, 3e-3],
                       "dataset_fraction": [0.05, 0.5], "seq_len": 64, "batch_size": 16,
                       "max_steps": 300, "eval_interval": 25, "eval_batches": 4}}}


def hypothesis(target: float | None) -> dict:
    """The study's hypothesis; with `target`, p1 writes its loss target ("reaches val loss 3.0
    20% sooner ..."), which p2 reads through p1, so every run may stop from the first pair on."""
    h = copy.deepcopy(HYPOTHESIS)
    if target is not None:
        h["hypothesis"]["predictions"][0] = (f"Reaches val loss {target:g} 20% sooner with pre-norm vs "
                                             "post-norm at N < 5000 samples")
    return h


def study_of(tmp: Path, budget: int, data_dir: str, max_seeds: int, target: float | None = None,
             workers: int = 1):
    source = tmp / "hypothesis.yaml"
    source.write_text(yaml.safe_dump(hypothesis(target), sort_keys=False))
    args = loop.parse_args(["--hypothesis", str(source), "--max-experiments", str(budget),
                            "--data-dir", data_dir, "--max-seeds", str(max_seeds), "--out", str(tmp / "run"),
                            "--workers", str(workers)])
    return args, loop.open_from_args(args)


@contextlib.contextmanager
def walking_on(every_run: bool):
    """The brute force walks every point at every seed: the loop's stop once every
    prediction is decided is switched off for it (its other stops stay)."""
    original = loop.stop_reason

    def stop(*a, **k):
        reason = original(*a, **k)
        return None if every_run and reason == "every prediction is decided" else reason
    loop.stop_reason = stop
    try:
        yield
    finally:
        loop.stop_reason = original


def run(planner_name: str, budget: int, data_dir: str, seeds: int, target: float | None = None,
        keep: Path | None = None, full: bool = False, workers: int = 1) -> dict:
    """One study; `keep`: copy its log there; `full`: no run stops early (every curve whole)."""
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        args, study = study_of(Path(tmp), budget, data_dir, max(seeds, 10), target, workers)
        if full:
            study.stop_target = lambda point: None
        planner = (OfflinePlanner(max_seeds=args.max_seeds, base_seed=0, max_runs=budget)
                   if planner_name == "offline" else GridPlanner(seeds_per_point=seeds, base_seed=0))
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), walking_on(planner_name == "grid"):
            options = loop.LoopOptions.from_args(args, loop.Slots.plan(args.workers, args.device, args.executor))
            reason = loop.research(study, planner, LocalExecutor(), options)
        wall = time.perf_counter() - started
        if keep is not None:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(study.run_dir / "research_log.jsonl", keep)
        records = study.records
        walk = grid_walk(records, study.space)
        out = {"planner": planner_name, "stop": reason, "runs": len(records), "wall_s": round(wall, 1),
               "steps": sum(r.steps or 0 for r in records),
               "stopped_early": sum(r.stopped_early for r in records),
               "walk_steps": walk.steps if walk else None, "predictions": {}}
        for pid in ("p1", "p2"):
            v = study.verdicts[pid]
            n = runs_to_decide(study, [pid]) if v.decided else None
            out["predictions"][pid] = {
                "status": v.status, "confidence": v.confidence, "evidence": v.evidence,
                "effect": v.effect, "interval": list(v.interval) if v.interval else None,
                "n_pairs": v.n_pairs, "runs_to_decide": n,
                "steps_to_decide": sum(r.steps or 0 for r in records[:n]) if n else None}
        decided = [p["runs_to_decide"] for p in out["predictions"].values()]
        out["steps_to_all_decided"] = (sum(r.steps or 0 for r in records[:max(decided)])
                                       if all(decided) else None)
        out["evolved"] = [pid for pid in study.verdicts if pid not in ("p1", "p2")]
        return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--budget", type=int, default=40, help="the study's --max-experiments (default 40)")
    p.add_argument("--brute-seeds", type=int, default=8, help="seeds per design point in the brute force")
    p.add_argument("--phase", choices=["study", "brute", "both", "bank"], default="both",
                   help="bank: every point at --brute-seeds seeds, no run stopped early, its log kept in "
                        "--bank (the curves bench/real_replay.py replays)")
    p.add_argument("--bank", type=Path, default=BANK, help=f"the bank's log (default {BANK.relative_to(ROOT)})")
    p.add_argument("--workers", type=int, default=1, help="runs at once (the bank and brute phases)")
    p.add_argument("--target", type=float, help="the study only, with p1's loss target written in (e.g. 3.0)")
    args = p.parse_args(argv)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    key = "study" if args.target is None else f"study_target_{args.target:g}"
    if args.phase in ("study", "both"):
        results[key] = run("offline", args.budget, args.data_dir, 10, args.target)
        print(json.dumps(results[key], indent=1), flush=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if args.phase == "bank":
        results["bank"] = run("grid", 8 * args.brute_seeds, args.data_dir, args.brute_seeds, keep=args.bank,
                              full=True, workers=args.workers)
        print(json.dumps(results["bank"], indent=1), flush=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if args.phase in ("brute", "both"):
        results["brute"] = run("grid", 8 * args.brute_seeds, args.data_dir, args.brute_seeds,
                               workers=args.workers)
        print(json.dumps(results["brute"], indent=1), flush=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    s = results.get(key)
    if s and s.get("walk_steps"):
        for pid, v in s["predictions"].items():
            ratio = v["steps_to_decide"] / s["walk_steps"] if v["steps_to_decide"] else None
            print(f"{pid}: {v['status']} at {v['confidence']:.2f} after {v['runs_to_decide']} runs; "
                  f"steps until decided / the walk's: {ratio if ratio is None else round(ratio, 3)}")
        print(f"in all: {s['steps']} steps in {s['runs']} runs / the walk's {s['walk_steps']}: "
              f"{s['steps'] / s['walk_steps']:.3f}")


if __name__ == "__main__":
    main()
