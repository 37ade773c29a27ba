"""Planners side by side on simulated studies with known truth.

    python bench/planners.py                 # 45 studies, 40-run budget, ~minutes on 2 cores
    python bench/planners.py --quick         # 6 studies, a smoke test
    python bench/planners.py --planners offline --target 2.3   # the loss target written in

Each study (bench/sim_cases.py) runs through the real loop (`trajectory.study`,
`loop.research`, the checker) on the simulated backend once per planner: offline,
grid (3 seeds per point), random. Every prediction's truth is known from the
noise-free surface, so each final verdict is scored:

  accuracy     of the predictions decided (confirmed/refuted) whose truth is definite,
               the fraction decided the right way                        (target >= 0.95)
  calibration  of all decisions made at >= 0.9 confidence, the fraction correct, a
               decision on a prediction exactly at its threshold counting as false;
               and the rate of decisions on those at-threshold predictions (target <= 0.05)
  efficiency   runs until every prediction is decided, as a ratio to the grid's, the
               median over studies both planners decide fully              (target <= 0.5);
               also per prediction: runs until it is decided for good, over the
               predictions both decide (so studies holding an at-threshold one count)
  floor        the fewest runs in which any planner could decide a study, whatever the
               data: the guard needs some fewest pairs before its e-value can
               reach the bound even for an unbounded effect (fewest_runs). Its ratio to
               the grid's runs is a lower bound on any planner's ratio, study by study.
  full walk    runs until decided as a ratio to the grid's full size (every point, 3
               seeds): what a grid walked without a stopping rule costs.
  compute      training seconds until every prediction is decided (early-stopped runs
               counting what they trained) over the full 3-seed grid walk's, every run
               to max_steps: the median over the studies fully decided (target <= 0.2),
               and the share of studies fully decided; and the studies that stopped
               for "nothing left" with a prediction open.

--target LOSS writes that val loss into every convergence-speed prediction of the cases
("reaches val loss 2.3 20% sooner"): no cell's first pair then trains in full to set
its target, and each prediction's truth is read at that loss.

Results also go to bench/results/planners.json.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

import loop  # noqa: E402
from bench.planner_table import table  # noqa: E402
from bench.sim_cases import NOISE, TEMPLATES, case  # noqa: E402
from executor.sim import SimExecutor  # noqa: E402
from planner.baselines import GridPlanner, RandomPlanner  # noqa: E402
from parser.checker import stats  # noqa: E402
from parser.hypothesis import config_space  # noqa: E402
from parser.compile import compile_all  # noqa: E402
from planner.offline import OfflinePlanner  # noqa: E402
from planner.space import Space  # noqa: E402
from trajectory.compute import grid_walk  # noqa: E402

PLANNERS = ("offline", "grid", "random")
GRID_SEEDS = 3  # the grid baseline: every point at this many seeds
RESULTS = ROOT / "bench" / "results" / "planners.json"


def make_planner(name: str, args, index: int):
    if name == "offline":
        return OfflinePlanner(max_seeds=args.max_seeds, base_seed=args.seed, max_runs=args.max_experiments)
    if name == "grid":
        return GridPlanner(seeds_per_point=GRID_SEEDS, base_seed=args.seed)
    return RandomPlanner(seed=index, max_seeds=args.max_seeds, base_seed=args.seed)


def run_study(job: tuple) -> dict:
    """One simulated study with one planner, through the loop; its scored outcome.
    job: (index, planner, budget, space[, written loss target[, noise scale]])."""
    index, planner_name, budget, space, *written = job
    target = written[0] if written else None
    noise_scale = written[1] if len(written) > 1 else 1.0
    c = case(index, space, target, noise_scale)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        source = Path(tmp) / "hypothesis.yaml"
        source.write_text(yaml.safe_dump(c.hypothesis, sort_keys=False))
        args = loop.parse_args(["--hypothesis", str(source), "--executor", "sim",
                                "--max-experiments", str(budget), "--out", str(Path(tmp) / "run")])
        study = loop.open_from_args(args)  # load_hypothesis + trajectory.study.open_study
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            reason = loop.research(study, make_planner(planner_name, args, index), SimExecutor(c.truth),
                                   loop.LoopOptions.from_args(args))
        seconds = time.perf_counter() - started
    # the user's own predictions are scored; evolved ones (refinements, children) have
    # no known truth here, and the loop may go on testing them after these are decided
    verdicts = {pid: {"status": v.status, "confidence": v.confidence, "n_pairs": v.n_pairs,
                      "truth": c.truth_of(pid), "score": c.scores[pid],
                      "runs": runs_to_decide(study, [pid]) if v.decided else None}
                for pid, v in study.verdicts.items() if pid in c.scores}
    all_decided = all(study.verdicts[pid].decided for pid in verdicts)
    runs = runs_to_decide(study, list(verdicts)) if all_decided else len(study.records)
    walk = grid_walk(study.records, study.space)
    return {"study": index, "case": c.name, "noise": c.noise, "noise_scale": noise_scale,
            "planner": planner_name, "target": target,
            "floor": fewest_runs(c), "grid_size": grid_size(c),
            "runs": runs, "all_decided": all_decided, "stop": reason,
            # compute (training seconds, simulated) until decided (or spent, if never), and the walk's
            "compute": round(sum(r.train_time_s or 0.0 for r in study.records[:runs]), 3),
            "steps": sum(r.steps or 0 for r in study.records[:runs]),
            "walk_compute": round(walk.seconds, 3) if walk else None, "walk_steps": walk.steps if walk else None,
            "stopped_early": sum(r.stopped_early for r in study.records),
            "gave_up": reason.startswith("nothing left") and not all_decided,
            "seconds": round(seconds, 2), "verdicts": verdicts, "reverted": reverted(study, list(verdicts))}


def reverted(study, pids: list[str]) -> dict:
    """pid -> [the decision shown, after run k, the final status] for each prediction whose
    verdict was once decided and then not, or the other way: a reader who stopped at run k saw it."""
    out = {}
    for pid in pids:
        final = study.verdicts[pid].status
        for k, entry in enumerate(study.history, start=1):
            shown = entry["status"].get(pid)
            if shown in ("confirmed", "refuted") and shown != final:
                out[pid] = [shown, k, final]
                break
    return out


def runs_to_decide(study, pids: list[str]) -> int:
    """Runs until the user's predictions were decided for good (they stay so to the end)."""
    decided = ("confirmed", "refuted", "untestable")
    last_open = 0
    for k, entry in enumerate(study.history, start=1):
        if any(entry["status"].get(pid) not in decided for pid in pids):
            last_open = k
    return min(last_open + 1, len(study.records))


UNBOUNDED = 1e9  # a t statistic standing for an effect without bound


def fewest_pairs(two_sample: bool = False) -> int:
    """The fewest scores (pairs, or runs for a bound) at which the guard's e-value can reach E_BOUND.

    One sample: n scores give a t with n - 1 df; two samples (an interaction):
    na + nb scores, na, nb >= 1, with na + nb - 2 df. Below this count no data
    however extreme decides the prediction.
    """
    for total in range(2, 100):
        if two_sample:
            splits = [(a, total - a) for a in range(1, total)]
            reach = max(stats.t_evalue(UNBOUNDED, 1 / (1 / a + 1 / b), total - 2, 1) for a, b in splits)
        else:
            reach = stats.t_evalue(UNBOUNDED, total, total - 1, 1)
        if reach >= stats.E_BOUND:
            return total
    raise ValueError("the e-value cannot reach its bound")


def fewest_runs(c) -> int:
    """A lower bound on the runs any planner needs to decide every prediction of case `c`.

    Each prediction alone needs its fewest pairs (two runs each: arm and baseline)
    or, for a bound, its fewest runs; the study needs at least the largest of
    these. Runs shared between predictions make this a bound, not the exact floor.
    """
    config = c.hypothesis["hypothesis"]["initial_config"]
    predictions = compile_all(c.hypothesis["hypothesis"]["predictions"], config_space(config))
    need = {"comparison": 2 * fewest_pairs(), "equivalence": 2 * fewest_pairs(),
            "interaction": 2 * fewest_pairs(two_sample=True), "bound": fewest_pairs()}
    return max(need[p.spec.kind] for p in predictions)


def grid_size(c) -> int:
    """Runs in the grid walked in full: every design point, GRID_SEEDS seeds each."""
    return GRID_SEEDS * len(Space(config_space(c.hypothesis["hypothesis"]["initial_config"])).points())


def decisions(outcomes: list[dict]) -> list[dict]:
    """Every confirm/refute, with its confidence in the direction decided and whether it is right."""
    out = []
    for o in outcomes:
        for pid, v in o["verdicts"].items():
            if v["status"] not in ("confirmed", "refuted"):
                continue
            said = "true" if v["status"] == "confirmed" else "false"
            conf = v["confidence"] if said == "true" else 1 - v["confidence"]
            out.append({"study": o["study"], "id": pid, "truth": v["truth"], "confidence": conf,
                        "correct": said == v["truth"]})
    return out


def rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def decided_elsewhere(o: dict, outcomes: list[dict]) -> bool:
    """Whether another planner decided, on the same study and budget, a prediction `o` left open."""
    open_ = [pid for pid, v in o["verdicts"].items() if v["status"] in ("undecided", "untested")]
    return any(other["verdicts"][pid]["status"] in ("confirmed", "refuted")
               for other in outcomes if other["study"] == o["study"] and other is not o for pid in open_)


def summarize(outcomes: list[dict]) -> dict:
    by = {name: [o for o in outcomes if o["planner"] == name] for name in PLANNERS
          if any(o["planner"] == name for o in outcomes)}
    by.setdefault("grid", [])  # the grid's runs are the ratios' base: without it they are left out
    grid_runs = {o["study"]: o["runs"] for o in by["grid"] if o["all_decided"]}
    grid_each = {(o["study"], pid): v["runs"] for o in by["grid"] for pid, v in o["verdicts"].items() if v["runs"]}
    out = {}
    for name, mine in by.items():
        if not mine:
            continue
        ds = decisions(mine)
        definite = [d for d in ds if d["truth"] != "at"]
        confident = [d for d in ds if d["confidence"] >= 0.9]
        n_preds = sum(len(o["verdicts"]) for o in mine)
        at_total = sum(v["truth"] == "at" for o in mine for v in o["verdicts"].values())
        at_decided = sum(d["truth"] == "at" for d in ds)
        full = [o for o in mine if o["all_decided"]]
        ratios = [o["runs"] / grid_runs[o["study"]] for o in full if o["study"] in grid_runs]
        floors = [o["floor"] / grid_runs[o["study"]] for o in full if o["study"] in grid_runs]
        walks = [o["runs"] / o["grid_size"] for o in full]
        each = [v["runs"] / grid_each[o["study"], pid] for o in mine for pid, v in o["verdicts"].items()
                if v["runs"] and (o["study"], pid) in grid_each]
        compute = [o["compute"] / o["walk_compute"] for o in full if o.get("walk_compute")]
        spent = [o["compute"] / o["walk_compute"] for o in mine if o.get("walk_compute")]
        out[name] = {
            "predictions": n_preds, "decided": len(ds),
            "accuracy": rate(sum(d["correct"] for d in definite), len(definite)),
            "n_definite_decided": len(definite),
            "calibration_at_0.9": rate(sum(d["correct"] for d in confident), len(confident)),
            "n_confident": len(confident),
            "calibration_bins": _bins(ds),
            "at_threshold_false_rate": rate(at_decided, at_total), "n_at_threshold": at_total,
            "studies": len(mine), "studies_fully_decided": len(full),
            "median_runs_fully_decided": statistics.median([o["runs"] for o in full]) if full else None,
            "runs_total": sum(o["runs"] for o in mine),
            "ratio_to_grid_median": statistics.median(ratios) if ratios else None,
            "n_ratio": len(ratios),
            # no planner could do better than this on the same studies (the guard's fewest pairs)
            "floor_ratio_to_grid_median": statistics.median(floors) if floors else None,
            "full_walk_ratio_median": statistics.median(walks) if walks else None,
            "n_full_walk": len(walks),
            # per prediction decided by both (studies with one at its threshold count too)
            "ratio_each_to_grid_median": statistics.median(each) if each else None,
            "n_ratio_each": len(each),
            # decided fully where the grid is not: their ratio is unknown, so it is left out above
            "fully_decided_grid_not": sum(o["study"] not in grid_runs for o in full),
            # compute (training seconds) until every prediction is decided / the full 3-seed grid walk's
            "compute_ratio_median": statistics.median(compute) if compute else None,
            "n_compute_ratio": len(compute),
            # the same over every study, an undecided one counting all it spent
            "spent_ratio_median": statistics.median(spent) if spent else None,
            "share_fully_decided": rate(len(full), len(mine)),
            "runs_stopped_early": sum(o.get("stopped_early", 0) for o in mine),
            # stopped for "nothing left" with a prediction open (what the reach test must prevent
            # while the budget could still decide it; each one's reason is in the results file)
            "gave_up": sum(o.get("gave_up", False) for o in mine),
            # ... of which another planner decided an open one in the same budget: a stop while reachable
            "gave_up_reachable": sum(o.get("gave_up", False) and decided_elsewhere(o, outcomes) for o in mine),
        }
    return out


def _bins(ds: list[dict]) -> dict:
    bins = {"[0.9,0.95)": (0.9, 0.95), "[0.95,0.99)": (0.95, 0.99), "[0.99,1]": (0.99, 1.01)}
    return {label: {"n": len(inside), "correct": rate(sum(d["correct"] for d in inside), len(inside))}
            for label, (lo, hi) in bins.items()
            for inside in [[d for d in ds if lo <= d["confidence"] < hi]]}


def study_indices(n: int, names: str | None) -> list[int]:
    """The first n study indices, or the first n whose template is one of `names` (comma-separated)."""
    if not names:
        return list(range(n))
    wanted = names.split(",")
    unknown = [w for w in wanted if w not in TEMPLATES]
    if unknown:
        raise SystemExit(f"--cases {', '.join(unknown)}: not a template of bench/sim_cases.py ({', '.join(TEMPLATES)})")
    names_ = list(TEMPLATES)
    return [i for i in range(n * len(names_)) if names_[i % len(names_)] in wanted][:n]


def levels_table(outcomes: list[dict]) -> str:
    """Per planner and seed-noise level: accuracy, decisions at the threshold, and the runs until
    each decided prediction was decided for good (median)."""
    lines = [f"{'by noise level':22s}{'accuracy':>16s}{'at threshold':>16s}{'decided':>10s}{'runs (median)':>15s}"]
    for name in PLANNERS:
        for level in NOISE:
            mine = [o for o in outcomes if o["planner"] == name and o["noise"] == level]
            if not mine:
                continue
            ds = decisions(mine)
            definite = [d for d in ds if d["truth"] != "at"]
            at = [v for o in mine for v in o["verdicts"].values() if v["truth"] == "at"]
            runs = [v["runs"] for o in mine for v in o["verdicts"].values() if v["runs"]]
            right = sum(d["correct"] for d in definite)
            at_false = sum(v["status"] in ("confirmed", "refuted") for v in at)
            lines.append(f"{name + ' ' + level:22s}{f'{right}/{len(definite)}':>16s}{f'{at_false}/{len(at)}':>16s}"
                         f"{len(ds):>10d}{(statistics.median(runs) if runs else float('nan')):>15.1f}")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studies", type=int, default=45, help="simulated studies (default 45: 15 cases x 3 noise levels)")
    p.add_argument("--budget", type=int, default=40, help="runs per study (default 40)")
    p.add_argument("--quick", action="store_true", help="6 studies: a smoke test")
    p.add_argument("--space", choices=["quickstart", "wide"], default="quickstart",
                   help="the quickstart's 8-point space, or a wider one shaped like hypothesis.yaml")
    p.add_argument("--planners", default=",".join(PLANNERS),
                   help=f"comma-separated subset of {', '.join(PLANNERS)} (default all)")
    p.add_argument("--target", type=float, default=None, metavar="LOSS",
                   help="write this val loss target into every convergence-speed prediction")
    p.add_argument("--cases", default=None, metavar="NAME[,NAME]",
                   help="only studies of these sim_cases templates (--studies of them, noise levels in turn)")
    p.add_argument("--noise-scale", type=float, default=1.0, metavar="X",
                   help="multiply every case's seed noise by X (x0.05: a 0.1%% loss spread; x3: a 30%%+ steps spread)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS.relative_to(ROOT)})")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    n = 6 if args.quick else args.studies
    planners = [name for name in PLANNERS if name in args.planners.split(",")]
    if not planners:
        raise SystemExit(f"--planners {args.planners!r}: name some of {', '.join(PLANNERS)}")
    indices = study_indices(n, args.cases)
    jobs = [(i, name, args.budget, args.space, args.target, args.noise_scale) for i in indices for name in planners]
    started = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            outcomes = list(pool.map(run_study, jobs, chunksize=1))
    else:
        outcomes = [run_study(job) for job in jobs]
    wall = time.perf_counter() - started
    summary = summarize(outcomes)
    command = " ".join(["python", "bench/planners.py", *(argv if argv is not None else sys.argv[1:])])
    cases = [case(i, args.space, args.target, args.noise_scale) for i in indices]
    if args.out == RESULTS:  # the default file holds the default run only
        suffix = (f"-{args.space}" if args.space != "quickstart" else "") + \
            (f"-target{args.target:g}" if args.target is not None else "") + \
            (f"-noise{args.noise_scale:g}" if args.noise_scale != 1.0 else "") + \
            (f"-{args.cases.replace(',', '+')}" if args.cases else "") + \
            (f"-{'+'.join(planners)}" if len(planners) < len(PLANNERS) else "")
        args.out = RESULTS.with_name(f"planners{suffix}.json")
    at = sum(any(c.truth_of(pid) == "at" for pid in c.scores) for c in cases)
    written = f", loss target {args.target:g} written in" if args.target is not None else ""
    written += f", seed noise x{args.noise_scale:g}" if args.noise_scale != 1.0 else ""
    print(f"command: {command}\nstudies: {n} per planner ({at} hold a prediction exactly at its threshold, "
          f"so cannot end fully decided without a false decision), space {args.space}{written}, "
          f"budget {args.budget} runs, "
          f"wall time {wall:.1f} s\n")
    print(table(summary))
    print("\n" + levels_table(outcomes))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": command, "studies": n, "budget": args.budget, "target": args.target,
                                    "noise_scale": args.noise_scale,
                                    "wall_time_s": round(wall, 1), "summary": summary,
                                    "cases": [{"study": c.draw, "case": c.name, "noise": c.noise,
                                               "scores": c.scores, "truth": c.truth.model_dump()}
                                              for c in cases],
                                    "outcomes": outcomes}, indent=1) + "\n")
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
