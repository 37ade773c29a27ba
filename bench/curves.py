"""Where an effect crosses its threshold along a continuous factor: coverage and width of
the 90% crossing interval (`parser/checker/trend.py`) for several designs.

    python bench/curves.py                    # 2000 simulated studies per row
    python bench/curves.py --studies 500
    python bench/curves.py --loop 20          # the real loop on the simulator, 20 studies per noise
    python bench/curves.py --loop 600 --sigmas 0.1 --designs range   # one design, more truths
    python bench/curves.py --lack-of-fit 300  # the line's lack-of-fit fallback, 300 draws per truth and noise

The default rows fit `trend` to scores drawn straight from the model. `--loop` runs whole
studies instead: a simulated truth whose pre/post steps ratio is 0.80 at a random N* and
fades by 10% per e-fold of N (`along` in the truth file), a 5-point log grid of
dataset_fraction, the predictions "20% faster at N < 1000" and "diminishes at N > 1000";
the offline planner through `loop.research` until it stops, on that grid and on a range
of fractions that starts from 3 values and gains the ones where the crossing is estimated
(and a new one wherever a region's cells have every seed), against the 5-point grid walked
with 3 seeds (every point, both arms: 30 runs), each scored by its crossing interval. Each
row also counts why its studies stopped, with the coverage among each kind: an interval
read at a stop the scores chose (every prediction decided) is not a fixed-sample one, so
there the crossing is read at 95% as the report reads it (`curves.STOPPED_MASS`).

`--lack-of-fit` reads the verdicts of those two predictions once, at a fixed design: the
5-point range of fractions (declared as a range, so the checker reads the line) walked with
`--seeds` seeds, both arms on the simulator, under three truths: the fading line above
(a random N*), a step (pre-norm 30% faster below N = 1000, no faster above) and a V (pre-norm's
head start shrinks towards N = 1000 and grows again past it). Per truth: the share of reads
sent to the regions by the lack-of-fit test (`along.STRAIGHT_LEVEL`; on the line, any is a
false fallback and the share should sit near the level), and each prediction's verdicts
graded against the truth as `bench/truth.py` reads it (the regions' cell means): right,
wrong, undecided, with the fallback and without it (the level set to 0).

Each study draws a true crossing N* log-uniformly in [300, 3000] and paired scores
y = slope * log(N* / N) + noise (score units: > 0 where the prediction holds, as the
checker's `scoring.paired_score`; slope 0.1 is a steps ratio that moves ~10% per e-fold
of data), measured on a design of data sizes N in [100, 10000]. The design walked by
hand is five log-spaced sizes with three seeds each (15 pairs). Reported per design and
noise: the share of intervals holding N*, the share that are bounded, their median
width (as the ratio high / low), and the pairs the design spends.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parser.checker import trend  # noqa: E402

DESIGNS = {  # name -> data sizes, one pair each
    "grid 5 x 3 seeds": [s for s in np.geomspace(100, 10000, 5) for _ in range(3)],
    "grid 5 x 1 seed": list(np.geomspace(100, 10000, 5)),
    "ends 2 x 3 seeds": [s for s in (100.0, 10000.0) for _ in range(3)],
    "ends 2 x 2 seeds": [s for s in (100.0, 10000.0) for _ in range(2)],
    "grid 9 x 1 seed": list(np.geomspace(100, 10000, 9)),
}


def study(rng, sizes, sigma: float, slope: float) -> tuple[bool, bool, float | None]:
    """(interval holds N*, bounded, high/low) for one simulated study."""
    true_cross = math.exp(rng.uniform(math.log(300), math.log(3000)))
    xs = np.asarray(sizes)
    ys = slope * np.log(true_cross / xs) + rng.normal(0, sigma, len(xs))
    found = trend.fit(list(zip(xs, ys)), prior_scale=0.1).crossing(0.0, 0.9)
    held = (found.low is None or found.low <= true_cross) and (found.high is None or true_cross <= found.high)
    width = (found.high / found.low if found.low > 0 else math.inf) if found.bounded else None
    return held, found.bounded, width


def row(name: str, sizes, sigma: float, slope: float, studies: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    results = [study(rng, sizes, sigma, slope) for _ in range(studies)]
    widths = [w for _, _, w in results if w is not None]
    return {"design": name, "sigma": sigma, "slope": slope, "pairs": len(sizes),
            "coverage": sum(h for h, _, _ in results) / studies,
            "bounded": sum(b for _, b, _ in results) / studies,
            "width": statistics.median(widths) if widths else None}


FRACTIONS = [0.05, 0.106, 0.224, 0.473, 1.0]  # N = 154 ... 3076 on the simulator's corpus
LOOP_STUDY = {"hypothesis": {
    "claim": "Pre-norm's head start fades as data grows",
    "predictions": ["Val loss converges 20% faster with pre-norm vs post-norm at N < 1000 samples",
                    "Effect diminishes at N > 1000 samples"],
    "initial_config": {"model": "transformer_tiny", "dataset": "synthetic", "norm_position": ["pre", "post"],
                       "dataset_fraction": FRACTIONS, "seq_len": 64, "batch_size": 16, "max_steps": 300,
                       "eval_interval": 5}}}


def loop_truth(true_cross: float, sigma: float, draw: int) -> dict:
    return {"curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3076},
            "effects": [{"on": "tau", "factor": "norm_position", "levels": {"pre": math.log(0.8)},
                         "along": {"variable": "n_train_samples", "at": true_cross, "per_e_fold": {"pre": 0.1}}}],
            "noise": {"tau_shared": 0.05, "tau_arm": sigma, "draw": draw}}


def _held(crossing: dict, true_cross: float) -> bool:
    return (crossing["low"] is None or crossing["low"] <= true_cross) and \
        (crossing["high"] is None or true_cross <= crossing["high"])


def _scored(curve: dict | None, design: str, sigma: float, runs: int, true_cross: float, stop: str = "") -> dict:
    cross = curve["crossing"] if curve else None
    return {"design": design, "sigma": sigma, "runs": runs, "true_cross": true_cross, "curve": curve is not None,
            "stop": stop,
            "held": _held(cross, true_cross) if cross else None, "bounded": bool(cross and cross["bounded"]),
            "width": cross["high"] / cross["low"] if cross and cross["bounded"] and cross["low"] > 0 else None}


def walk(truth, true_cross: float, sigma: float, source) -> dict:
    """Every point of the grid at 3 seeds, both arms (30 runs), scored as the checker scores
    a pair (scoring.steps_to_target, scoring.benefit), the curve fitted as `trajectory.curves` does."""
    from executor.sim import simulate
    from parser.checker import scoring
    from trajectory import curves

    base = dict(LOOP_STUDY["hypothesis"]["initial_config"])
    entries = []
    for fraction in FRACTIONS:
        for seed in range(3):
            pre, post = (simulate(truth, dict(base, norm_position=arm, dataset_fraction=fraction, seed=seed))
                         for arm in ("pre", "post"))
            a, b = scoring.steps_to_target(pre["val_curve"], post["val_curve"])
            entries.append(_Entry(scoring.benefit(a, b, "lower", True), b, pre["n_train_samples"]))
    return _scored(curves.curve(source, entries, "n_train_samples"), DESIGN_NAMES["walk"], sigma, 30, true_cross,
                   "fixed")


@dataclasses.dataclass
class _Entry:  # what trajectory.curves reads of a scored pair
    score: float
    base: float
    n: int

    @property
    def record(self):
        return dataclasses.make_dataclass("R", ["config", "metrics"])({}, {"n_train_samples": self.n})


RANGE_STUDY = {"hypothesis": dict(LOOP_STUDY["hypothesis"], initial_config=dict(
    LOOP_STUDY["hypothesis"]["initial_config"], dataset_fraction={"low": 0.05, "high": 1.0, "log": True, "points": 3}))}


DESIGN_NAMES = {"grid": "offline, 5-point grid", "range": "offline, range (3 points + placed)",
                "walk": "grid walk, 3 seeds"}


def loop_study(job: tuple[int, float, tuple[str, ...]]) -> list[dict]:
    """One truth, up to three designs: the offline loop until it stops on the 5-point grid
    and on the range, and the full 3-seed walk."""
    import contextlib
    import io
    import tempfile

    import yaml

    import loop
    from executor.sim import SimExecutor
    from parser.sim_truth import Truth
    from planner.offline import OfflinePlanner
    from trajectory import curves, graph

    index, sigma, designs = job
    rng = np.random.default_rng([index, int(sigma * 1000)])
    true_cross = math.exp(rng.uniform(math.log(300), math.log(3000)))
    truth = Truth.model_validate(loop_truth(true_cross, sigma, index))
    out = []
    for key, hypothesis in (("grid", LOOP_STUDY), ("range", RANGE_STUDY)):
        if key not in designs:
            continue
        design = DESIGN_NAMES[key]
        with tempfile.TemporaryDirectory(prefix="bench-curves-") as tmp:
            source = Path(tmp) / "h.yaml"
            source.write_text(yaml.safe_dump(hypothesis, sort_keys=False))
            args = loop.parse_args(["--hypothesis", str(source), "--executor", "sim", "--max-experiments", "60",
                                    "--out", str(Path(tmp) / "run")])
            study = loop.open_from_args(args)
            with contextlib.redirect_stdout(io.StringIO()):
                why = loop.research(study, OfflinePlanner(max_seeds=8), SimExecutor(truth),
                                    loop.LoopOptions.from_args(args))
            by_id = {p.id: p for h in study.hypotheses for p in h.predictions}
            p1 = by_id["p1"]
            decided = why == graph.VERDICTS_STOP
            stop = "decided" if decided else "budget" if why.startswith("experiment") else "nothing left"
            mass = curves.STOPPED_MASS if decided else curves.MASS  # as the report reads it
            found = curves.for_prediction(p1, by_id, study.records, mass=mass)
            out.append(_scored(found, design, sigma, len(study.records), true_cross, stop))
            study.close()
    if "walk" in designs:
        from parser.compile import compile_all

        grid = {k: v if isinstance(v, list) else [v] for k, v in LOOP_STUDY["hypothesis"]["initial_config"].items()}
        p1 = compile_all(LOOP_STUDY["hypothesis"]["predictions"], grid)[0]
        out.append(walk(truth, true_cross, sigma, p1.spec))
    return out


def loop_rows(studies: int, sigmas: list[float], designs: tuple[str, ...] = tuple(DESIGN_NAMES),
              first: int = 0) -> None:
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(i, s, designs) for s in sigmas for i in range(first, first + studies)]
    with ProcessPoolExecutor(2) as pool:
        results = [r for rs in pool.map(loop_study, jobs) for r in rs]
    print(f"{'design':>30} {'noise sd':>9} {'runs (median)':>14} {'curve':>6} {'coverage ± se':>15} {'bounded':>8} "
          f"{'width hi/lo':>12}  stops (coverage)")
    for sigma in sigmas:
        for design in dict.fromkeys(r["design"] for r in results):
            rs = [r for r in results if r["design"] == design and r["sigma"] == sigma]
            with_curve = [r for r in rs if r["curve"]]
            widths = [r["width"] for r in with_curve if r["width"] is not None]
            cover = sum(r["held"] for r in with_curve) / len(with_curve) if with_curve else float("nan")
            print(f"{design:>30} {sigma:>9.2f} {statistics.median(r['runs'] for r in rs):>14.0f} "
                  f"{len(with_curve):>3}/{len(rs):<2} {cover:>8.1%} ± {_se(cover, len(with_curve)):.1%} "
                  f"{sum(r['bounded'] for r in with_curve) / max(len(with_curve), 1):>7.1%} "
                  f"{(f'{statistics.median(widths):.2f}x' if widths else '-'):>12}  "
                  + ", ".join(f"{k} {v} ({_cover([r for r in with_curve if r['stop'] == k])})"
                              for k, v in sorted(Counter(r["stop"] for r in rs).items())))


LACK_SHAPES = ("line", "step", "V")


def shape_truth(shape: str, sigma: float, draw: int, true_cross: float = 1000.0) -> dict:
    """A truth for the lack-of-fit rows: the fading line (`loop_truth`), a step at N = 1000,
    or a V whose bottom is at N = 1000 (log tau shift of pre-norm -0.47 at N = 154, 0 at 1000,
    -0.45 at 3076)."""
    if shape == "line":
        return loop_truth(true_cross, sigma, draw)
    if shape == "step":
        effects = [{"on": "tau", "factor": "norm_position", "levels": {"pre": math.log(0.7)},
                    "where": "n_train_samples < 1000"}]
    else:
        effects = [{"on": "tau", "factor": "norm_position", "levels": {"pre": 0.0}, "where": f"n_train_samples {op} 1000",
                    "along": {"variable": "n_train_samples", "at": 1000, "per_e_fold": {"pre": k}}}
                   for op, k in (("<", 0.25), (">=", -0.4))]
    return {"curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3076},
            "effects": effects, "noise": {"tau_shared": 0.05, "tau_arm": sigma, "draw": draw}}


def fixed_records(truth, seeds: int) -> list:
    """Both arms at every point of the 5-point fraction grid, `seeds` seeds each, on the simulator."""
    from executor.sim import simulate
    from parser.design import config_hash
    from parser.schema import ResultRecord
    from run_config import TrainConfig, to_dict

    base = {k: v for k, v in LOOP_STUDY["hypothesis"]["initial_config"].items() if not isinstance(v, list)}
    out = []
    for fraction in FRACTIONS:
        for seed in range(seeds):
            for arm in ("pre", "post"):
                eid = f"exp_{len(out) + 1:04d}"
                config = to_dict(TrainConfig(**base, norm_position=arm, dataset_fraction=fraction, seed=seed,
                                             experiment_id=eid))
                out.append(ResultRecord(experiment_id=eid, hypothesis_id="H1", config=config,
                                        config_hash=config_hash(config), seed=seed, status="completed",
                                        metrics=simulate(truth, dict(config)), targets=["p1", "p2"]))
    return out


def lack_of_fit_read(job: tuple[str, float, int, int]) -> dict:
    """One draw: the verdicts of p1, p2 at the fixed design, with the fallback and without it,
    graded against the truth (> 0 holds), and which reading each used."""
    from bench.truth import true_score
    from parser.checker import along
    from parser.checker.pairs import PairIndexes
    from parser.checker.verdicts import assess_all
    from parser.compile import compile_all
    from parser.ranges import FactorRange
    from parser.sim_truth import Truth

    shape, sigma, draw, seeds = job
    rng = np.random.default_rng([draw, int(sigma * 1000), LACK_SHAPES.index(shape)])
    truth = Truth.model_validate(shape_truth(shape, sigma, draw, math.exp(rng.uniform(math.log(300),
                                                                                     math.log(3000)))))
    grid = {k: v if isinstance(v, list) else [v] for k, v in LOOP_STUDY["hypothesis"]["initial_config"].items()}
    predictions = compile_all(LOOP_STUDY["hypothesis"]["predictions"], grid)
    by_id = {p.id: p for p in predictions}
    records = fixed_records(truth, seeds)
    ranges = {"dataset_fraction": FactorRange(low=FRACTIONS[0], high=FRACTIONS[-1], log=True)}
    cells = [{k: v[0] for k, v in grid.items() if k != "dataset_fraction"} | {"dataset_fraction": f}
             for f in FRACTIONS]
    out = {"shape": shape, "sigma": sigma}
    level = along.STRAIGHT_LEVEL
    for label, at in (("with", level), ("without", 0.0)):
        along.STRAIGHT_LEVEL = at  # this worker's process only
        try:
            verdicts = assess_all(predictions, records, indexes=PairIndexes(ranges))
        finally:
            along.STRAIGHT_LEVEL = level
        for p in predictions:
            v, score = verdicts[p.id], true_score(truth, p, by_id, cells)
            right = "confirmed" if score > 0 else "refuted"
            out[(label, p.id)] = "undecided" if not v.decided else "right" if v.status == right else "wrong"
            if label == "with":
                out[("reading", p.id)] = v.reading
    return out


def lack_of_fit_rows(draws: int, sigmas: list[float], seeds: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(shape, s, d, seeds) for shape in LACK_SHAPES for s in sigmas for d in range(draws)]
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(lack_of_fit_read, jobs, chunksize=16))
    print(f"{'truth':>6} {'noise sd':>9} {'pred':>5} {'to regions ± se':>16}  "
          f"{'with the fallback: right / wrong / undecided':>46}  {'without: right / wrong / undecided':>36}")
    for shape in LACK_SHAPES:
        for sigma in sigmas:
            rs = [r for r in results if r["shape"] == shape and r["sigma"] == sigma]
            for pid in ("p1", "p2"):
                back = sum(r[("reading", pid)] == "regions" for r in rs) / len(rs)
                shares = {label: "  / ".join(f"{sum(r[(label, pid)] == k for r in rs) / len(rs):6.1%}"
                                             for k in ("right", "wrong", "undecided"))
                          for label in ("with", "without")}
                print(f"{shape:>6} {sigma:>9.2f} {pid:>5} {back:>8.1%} ± {_se(back, len(rs)):.1%}  "
                      f"{shares['with']:>46}  {shares['without']:>36}")


def _se(share: float, n: int) -> float:
    """The binomial standard error of a share of n studies."""
    return math.sqrt(share * (1 - share) / n) if n else float("nan")


def _cover(rs: list[dict]) -> str:
    return f"{sum(r['held'] for r in rs) / len(rs):.0%} held" if rs else "no curve"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=2000)
    ap.add_argument("--slope", type=float, default=0.1)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.03, 0.1])
    ap.add_argument("--loop", type=int, default=0, metavar="STUDIES", help="run whole studies on the simulator")
    ap.add_argument("--designs", nargs="+", choices=list(DESIGN_NAMES), default=list(DESIGN_NAMES),
                    help="with --loop: which designs to run on each truth (default: all three)")
    ap.add_argument("--first", type=int, default=0, metavar="K", help="with --loop: start from truth number K")
    ap.add_argument("--lack-of-fit", type=int, default=0, metavar="DRAWS",
                    help="read a fixed design's verdicts under a line, a step and a V, DRAWS times each")
    ap.add_argument("--seeds", type=int, default=3, help="with --lack-of-fit: seeds at each of the 5 fractions")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    if args.lack_of_fit:
        print(f"command: python bench/curves.py --lack-of-fit {args.lack_of_fit} --seeds {args.seeds} "
              f"--sigmas {' '.join(map(str, args.sigmas))}")
        lack_of_fit_rows(args.lack_of_fit, args.sigmas, args.seeds)
        print(f"wall time {time.perf_counter() - start:.1f} s")
        return 0
    if args.loop:
        print(f"command: python bench/curves.py --loop {args.loop} --sigmas {' '.join(map(str, args.sigmas))} "
              f"--designs {' '.join(args.designs)} --first {args.first}")
        loop_rows(args.loop, args.sigmas, tuple(args.designs), args.first)
        print(f"wall time {time.perf_counter() - start:.1f} s")
        return 0
    print(f"command: python bench/curves.py --studies {args.studies} --slope {args.slope}")
    print(f"{'design':>18} {'noise sd':>9} {'pairs':>6} {'coverage':>9} {'bounded':>8} {'width hi/lo':>12}")
    for sigma in args.sigmas:
        for i, (name, sizes) in enumerate(DESIGNS.items()):
            r = row(name, sizes, sigma, args.slope, args.studies, seed=i)
            width = f"{r['width']:.2f}x" if r["width"] else "-"
            print(f"{name:>18} {sigma:>9.2f} {r['pairs']:>6} {r['coverage']:>8.1%} {r['bounded']:>7.1%} {width:>12}")
    print(f"wall time {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
