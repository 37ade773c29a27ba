"""Issue 27, item 4: false decisions of an interaction read on the line along a declared range,
with the true drop exactly at its margin, through the real loop on the simulator.

    python bench/shared_target.py                       # 200 draws at seed noise x1 and x3
    python bench/shared_target.py --draws 20 --scales 1
    python bench/shared_target.py --cell-effect 14 61 --scales 1 3   # the error a cell's pairs share

The study is bench/curves.py's range design (dataset_fraction declared as a range from 0.05
to 1.0, three points to start, the offline planner placing more; a 60-run budget):
"20% faster with pre-norm at N < 1000" and "Effect diminishes at N > 1000", steps to
target with no target written, so each design cell's first pair fixes the loss target
its later pairs are scored at (pairs in a cell share that error). The truth fades the
pre-norm effect along log N so that the noise-free drop in benefit between the centroids
of the range's two parts (`along.span`) is exactly the interaction's 5% margin: any
decision of p2 is false. Seed noise on log tau per arm is 0.1 (x1, bench/sim_cases.py's
mid level) or 0.3 (x3). The same design with the regions read instead of the line is the
sim cases' `interaction-at-margin` (`python bench/planners.py --cases interaction-at-margin`).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from scipy.optimize import brentq  # noqa: E402

from bench.curves import RANGE_STUDY  # noqa: E402
from executor.sim import simulate  # noqa: E402
from parser.checker import along, scoring  # noqa: E402
from parser.schema import Condition  # noqa: E402
from parser.sim_truth import Truth  # noqa: E402

PER_FRACTION, LOW, HIGH, CUT = 3076, 0.05, 1.0, 1000.0
M = math.log(1.05)
SCOPE = along.Scope("n_train_samples", "dataset_fraction", True, LOW * PER_FRACTION, HIGH * PER_FRACTION)
CENTROIDS = along.span(SCOPE, Condition(variable="n_train_samples", op=">", value=CUT), None)
BASE_SIGMA = 0.1


def truth(per_e_fold: float, sigma: float, draw: int) -> dict:
    return {"curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": PER_FRACTION},
            "effects": [{"on": "tau", "factor": "norm_position", "levels": {"pre": math.log(0.7)},
                         "along": {"variable": "n_train_samples", "at": CUT, "per_e_fold": {"pre": per_e_fold}}}],
            "noise": {"tau_shared": 0.05 * sigma / BASE_SIGMA, "tau_arm": sigma, "draw": draw}}


def true_benefit(t: Truth, n: float) -> float:
    """log(steps_post / steps_pre), noise-free, at N = n, scored as the checker scores a pair."""
    base = dict(RANGE_STUDY["hypothesis"]["initial_config"], dataset_fraction=n / PER_FRACTION)
    pre, post = (simulate(t, dict(base, norm_position=arm, seed=0), noisy=False) for arm in ("pre", "post"))
    a, b = scoring.steps_to_target(pre["val_curve"], post["val_curve"])
    return scoring.benefit(a, b, "lower", True)


def at_margin() -> float:
    """The fade per e-fold of N whose drop between the centroids is exactly the margin."""
    main, versus = (math.exp(c) for c in CENTROIDS)

    def excess(s: float) -> float:
        t = Truth.model_validate(truth(s, BASE_SIGMA, 0))
        return true_benefit(t, main) - true_benefit(t, versus) - M

    return brentq(excess, 0.0, 0.2, xtol=1e-12)


def one(job: tuple[int, float, float]) -> dict:
    import loop
    from executor.sim import SimExecutor
    from planner.offline import OfflinePlanner

    draw, sigma, fade = job
    t = Truth.model_validate(truth(fade, sigma, draw))
    with tempfile.TemporaryDirectory(prefix="bench-shared-") as tmp:
        source = Path(tmp) / "h.yaml"
        source.write_text(yaml.safe_dump(RANGE_STUDY, sort_keys=False))
        args = loop.parse_args(["--hypothesis", str(source), "--executor", "sim", "--max-experiments", "60",
                                "--out", str(Path(tmp) / "run")])
        study = loop.open_from_args(args)
        with contextlib.redirect_stdout(io.StringIO()):
            why = loop.research(study, OfflinePlanner(max_seeds=8), SimExecutor(t), loop.LoopOptions.from_args(args))
        v = study.verdicts["p2"]
        study.close()
    return {"draw": draw, "sigma": sigma, "status": v.status, "confidence": v.confidence, "evidence": v.evidence,
            "basis": v.basis[:30], "runs": len(study.records), "stop": why[:40]}


def cell_effect(index: int, space: str, scale: float, seeds: int = 400, firsts: int = 40) -> list[dict]:
    """How much a design cell's pairs share through the target its first pair fixes, in sim case
    `index` (bench/sim_cases.py) at seed noise x`scale`: for each cell, the sd of one pair's
    score (the target fixed by seed 0's pair) and the sd, over `firsts` first pairs, of the cell's
    mean score at the target that pair fixes (the shared error a cell's pairs carry)."""
    import statistics

    from bench.sim_cases import SPACES, case

    c = case(index, space, None, scale)
    config = SPACES[space]
    out = []
    for lr in config["learning_rate"]:
        for fraction in config["dataset_fraction"]:
            cell = dict(c.hypothesis["hypothesis"]["initial_config"], learning_rate=lr, dataset_fraction=fraction)
            curves = [tuple(simulate(c.truth, dict(cell, norm_position=arm, seed=s))["val_curve"]
                            for arm in ("pre", "post")) for s in range(seeds)]

            def score(a, b, target):
                pre, post = scoring.steps_to_target(a, b, target)
                return math.log(post / pre)

            means = []
            for first in range(firsts):
                target = scoring.pair_target(*curves[first])
                means.append(statistics.fmean(score(a, b, target) for a, b in curves[firsts:]))
            target = scoring.pair_target(*curves[0])
            pair_sd = statistics.stdev(score(a, b, target) for a, b in curves[firsts:])
            out.append({"learning_rate": lr, "dataset_fraction": fraction, "pair_sd": pair_sd,
                        "shared_sd": statistics.stdev(means)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--cell-effect", type=int, nargs="+", metavar="STUDY",
                   help="instead: the shared error of each cell of these sim-case studies (`cell_effect`)")
    p.add_argument("--space", default="quickstart", help="with --cell-effect: the sim cases' space")
    args = p.parse_args(argv)
    if args.cell_effect:
        for index in args.cell_effect:
            for x in args.scales:
                for row in cell_effect(index, args.space, x):
                    print(f"study {index} x{x:g} lr {row['learning_rate']:g} fraction {row['dataset_fraction']:g}: "
                          f"one pair's sd {row['pair_sd']:.3f}, the cell's shared error sd {row['shared_sd']:.4f}")
        return 0
    fade = at_margin()
    started = time.perf_counter()
    jobs = [(d, BASE_SIGMA * x, fade) for x in args.scales for d in range(args.draws)]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one, jobs, chunksize=1))
    print(f"interaction on the line, true drop at its 5% margin (fade {fade:.4f} per e-fold of N), "
          f"{args.draws} draws per noise, 60-run budget; wall {time.perf_counter() - started:.0f} s")
    for x in args.scales:
        mine = [r for r in rows if r["sigma"] == BASE_SIGMA * x]
        false = [r for r in mine if r["status"] in ("confirmed", "refuted")]
        on_line = sum(r["basis"].startswith("judged on the curve") for r in mine)
        se = math.sqrt(len(false) / len(mine) * (1 - len(false) / len(mine)) / len(mine))
        print(f"  x{x:g} (tau noise {BASE_SIGMA * x:g}): false decisions {len(false)}/{len(mine)} = "
              f"{100 * len(false) / len(mine):.1f}% ± {100 * se:.1f} "
              f"(confirmed {sum(r['status'] == 'confirmed' for r in false)}, refuted "
              f"{sum(r['status'] == 'refuted' for r in false)}); read on the line in {on_line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
