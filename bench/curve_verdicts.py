"""An interaction along a data-size range, decided on the line or by regions: false decisions
with the true drop at the margin, and pairs to a decision for a strong diminishing effect.

    python bench/curve_verdicts.py                  # 400 studies at the margin, 200 strong, per row
    python bench/curve_verdicts.py --studies 100 --strong 50
    python bench/curve_verdicts.py --paired 1000    # the fallback's excess, the same draws read both ways

"Effect diminishes at N > 1000" over N in [100, 10000], margin 5% (m = log 1.05 on the score
scale), scores y = a + b log N + noise drawn straight from the model, the checker's `judge`
looking after every pair up to a budget of 45 pairs. Designs:

  range, 1 seed per value   one pair at each of 45 distinct N (van der Corput order in log N,
                            fixed before any score), judged on the line (parser/checker/along.py)
  grid 5 x seeds, line      a 5-point log grid walked seed by seed, the same line
  grid 5 x seeds, regions   the same grid as a list factor: today's difference of region means,
                            noise pooled from the replicates in each cell

At the margin each design sits on its own null: the line's drop between the centroids of the
range's two parts equals m (b = m / d), or for regions the mean over the grid points above
1000 is m below the mean of those at or below it. Any decision there is false. The strong
effect fades by 0.1 per e-fold of N (a drop of 0.23 between centroids, 4.6x the margin).
Reported: the share of studies deciding (falsely, at the margin) within 15 pairs (the
3-seed walk of the grid) and within 45; for the strong effect the share confirmed within 15
and 45 pairs and the median pairs (a pair is two runs) to the decision. Last, a truth the
line does not fit: the effect steps down by exactly the margin at N = 1000 (flat either
side), where the regions' means sit on their null and the line's projection does not (for
pairs spread evenly in log N its drop between the centroids is 3/4 of the step): the share
decided within 45 pairs. The line designs fall back to the regions where the line's lack of fit
rejects (`along.STRAIGHT_LEVEL`), as the checker does; `--no-fallback` reads the line always.

`--paired` walks the "grid 5 x seeds, line" design at the margin with each study's noise drawn
once and read three ways: the line alone, the fallback at 1% per look (the level first tried),
and the checker's; per reading the share deciding (falsely) within 45 pairs, and each
fallback's excess over the line alone with the standard error of the paired difference (the
two readings differ only in the few studies whose line ever bends, so this is far tighter than
two independent rows' difference).
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import replace
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parser.checker import along, stats, trend  # noqa: E402
from parser.checker.evidence import Evidence  # noqa: E402
from parser.checker.verdicts import DECIDE, judge  # noqa: E402
from parser.schema import Condition  # noqa: E402

M = math.log(1.05)
LOW, HIGH, CUT = 100.0, 10000.0, 1000.0
SCOPE = along.Scope("n_train_samples", "n_train_samples", True, LOW, HIGH)
CENTROIDS = along.span(SCOPE, Condition(variable="n_train_samples", op=">", value=CUT), None)
BUDGET, WALK = 45, 15
GRID = list(np.log(np.geomspace(LOW, HIGH, 5)))


def _van_der_corput(k: int) -> float:
    x, denom = 0.0, 1.0
    while k:
        k, bit = divmod(k, 2)
        denom *= 2
        x += bit / denom
    return x


def design(name: str) -> list[float]:
    """log N of each pair, in the order they run."""
    if name.startswith("range"):
        lo, hi = math.log(LOW), math.log(HIGH)
        return [lo + (hi - lo) * _van_der_corput(k + 1) for k in range(BUDGET)]
    return [GRID[k % 5] for k in range(BUDGET)]


def null_slope(name: str, us: list[float]) -> float:
    """The slope that puts this design's own drop exactly at the margin."""
    if not name.endswith("regions"):
        return M / (CENTROIDS[0] - CENTROIDS[1])
    main = [u for u in GRID if u <= math.log(CUT)]
    versus = [u for u in GRID if u > math.log(CUT)]
    return M / (statistics.fmean(main) - statistics.fmean(versus))


def evidence(name: str, points: list[tuple[float, float]]) -> Evidence | None:
    main = [y for u, y in points if u <= math.log(CUT)]
    versus = [y for u, y in points if u > math.log(CUT)]
    if not main or not versus:
        return None
    cells: dict[float, list[float]] = {}
    for u, y in points:
        cells.setdefault(u, []).append(y)
    by_regions = Evidence("difference", tuple(y - M for y in main), stats.pooled_noise(list(cells.values()), 0.1),
                          versus=tuple(versus), shift=-M)
    if name.endswith("regions"):
        return by_regions
    line = along.RangeLine(SCOPE, tuple((u, y, ()) for u, y in points), 0.1, centroids=CENTROIDS)
    if line.fitted is None or line.fitted.values < trend.MIN_VALUES:
        return None
    if not line.straight:  # the checker's lack-of-fit fallback (along.py): the regions, saying so
        return replace(by_regions, range_line=line)
    return Evidence("difference", tuple(y - M for y in main), line.fitted.noise, versus=tuple(versus),
                    shift=-M, range_line=line)


def _posterior(ev: Evidence) -> stats.Posterior:
    return ev.range_line.contrast(M) if ev.on_line else stats.difference(ev.scores, ev.versus, ev.noise)


def study(rng, name: str, slope: float, sigma: float, step: bool = False) -> tuple[int | None, str]:
    """(pairs at the decision, status) of one sequential study; (None, 'undecided') within budget.
    step: the effect falls by exactly the margin at N = 1000 instead (flat on either side)."""
    return walk(rng.normal(0, sigma, BUDGET), name, slope, step)


def walk(noise: np.ndarray, name: str, slope: float, step: bool = False) -> tuple[int | None, str]:
    """`study` on given noise draws (one per pair, in order), so readings can be paired on them."""
    points = []
    for k, u in enumerate(design(name)):
        mean = (0.3 - M * (u > math.log(CUT))) if step else 0.3 + slope * (u - CENTROIDS[0])
        points.append((u, mean + noise[k]))
        ev = evidence(name, points)
        if ev is None:
            continue
        p = _posterior(ev).prob_positive()
        if DECIDE > p > 1 - DECIDE:
            continue  # the posterior alone is short: undecided, the e-value need not be computed
        status = judge(ev).status
        if status != "undecided":
            return k + 1, status
    return None, "undecided"


def row(name: str, sigma: float, studies: int, strong: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    us = design(name)
    at_margin = [study(rng, name, null_slope(name, us), sigma) for _ in range(studies)]
    fading = [study(rng, name, -0.1, sigma) for _ in range(strong)]
    confirmed = [k for k, s in fading if s == "confirmed"]
    return {"design": name, "sigma": sigma,
            "false_15": sum(k is not None and k <= WALK for k, _ in at_margin) / studies,
            "false_45": sum(k is not None for k, _ in at_margin) / studies,
            "strong_15": sum(k <= WALK for k in confirmed) / strong,
            "strong_45": len(confirmed) / strong,
            "pairs": statistics.median(confirmed) if confirmed else None,
            "wrong": sum(s == "refuted" for _, s in fading) / strong,
            "step": sum(k is not None for k, _ in (study(rng, name, 0.0, sigma, True) for _ in range(studies)))
            / studies}


DESIGNS = ["range, 1 seed per value", "grid 5 x seeds, line", "grid 5 x seeds, regions"]
READINGS = {"line only": 0.0, "fallback at 1%": 0.01, "the checker's": along.STRAIGHT_LEVEL}  # the level


@contextmanager
def reading(label: str):
    """The line always (the lack-of-fit level at 0), the fallback at 1% per look (b1f107d's
    level), or the checker's own level (`along.STRAIGHT_LEVEL`)."""
    level = along.STRAIGHT_LEVEL
    along.STRAIGHT_LEVEL = READINGS[label]
    try:
        yield
    finally:
        along.STRAIGHT_LEVEL = level


def paired(name: str, sigma: float, studies: int, seed: int, step: bool = False) -> dict[str, np.ndarray]:
    """Per reading, whether each study decided within the budget (at the margin: falsely),
    every reading walking the same noise draws."""
    rng = np.random.default_rng([seed, int(1000 * sigma)])
    draws = [rng.normal(0, sigma, BUDGET) for _ in range(studies)]
    slope = 0.0 if step else null_slope(name, design(name))
    out = {}
    for label in READINGS:
        with reading(label):
            out[label] = np.array([walk(d, name, slope, step)[0] is not None for d in draws], float)
    return out


def paired_rows(sigmas: list[float], studies: int, seed: int, step: bool = False) -> None:
    """The line design's false decisions at the margin (with `step`, on the margin's step too) by reading,
    and each fallback's paired excess over the line alone with its standard error."""
    name = "grid 5 x seeds, line"
    labels = list(READINGS)
    print(f"{'truth':>6} {'noise sd':>9} {labels[0]:>20}" + "".join(f"{r + ' (excess ± se)':>40}" for r in labels[1:]))
    for sigma in sigmas:
        for truth in ("line", "step")[:1 + step]:
            got = paired(name, sigma, studies, seed, step=truth == "step")
            base = got[labels[0]]
            cells = [f"{base.mean():>20.1%}"]
            for label in labels[1:]:
                d = got[label] - base
                cells.append(f"{got[label].mean():>22.1%} ({d.mean():+.2%} ± {d.std(ddof=1) / math.sqrt(len(d)):.2%})")
            print(f"{truth:>6} {sigma:>9.2f} " + " ".join(cells), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=400)
    ap.add_argument("--strong", type=int, default=200)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.05, 0.1])
    ap.add_argument("--no-fallback", action="store_true", help="read the line even where it does not fit")
    ap.add_argument("--paired", type=int, default=0, metavar="STUDIES",
                    help="the line design's false decisions by reading, on the same draws (STUDIES per row)")
    ap.add_argument("--seed", type=int, default=1, help="with --paired: the draws' seed")
    ap.add_argument("--step", action="store_true", help="with --paired: a row for the margin's step too")
    args = ap.parse_args(argv)
    if args.no_fallback:
        along.STRAIGHT_LEVEL = 0.0
    start = time.perf_counter()
    if args.paired:
        print(f"command: python bench/curve_verdicts.py --paired {args.paired} --seed {args.seed} "
              f"--sigmas {' '.join(map(str, args.sigmas))}" + (" --step" if args.step else ""))
        paired_rows(args.sigmas, args.paired, args.seed, args.step)
        print(f"wall time {time.perf_counter() - start:.1f} s")
        return 0
    print(f"command: python bench/curve_verdicts.py --studies {args.studies} --strong {args.strong} "
          f"--sigmas {' '.join(map(str, args.sigmas))}" + (" --no-fallback" if args.no_fallback else ""))
    print(f"{'design':>26} {'noise sd':>9} {'false <=15':>11} {'false <=45':>11} "
          f"{'strong <=15':>12} {'strong <=45':>12} {'pairs (median)':>15} {'refuted':>8} {'step <=45':>10}")
    for sigma in args.sigmas:
        for i, name in enumerate(DESIGNS):
            r = row(name, sigma, args.studies, args.strong, seed=100 * i + int(1000 * sigma))
            pairs = f"{r['pairs']:.0f}" if r["pairs"] is not None else "-"
            print(f"{name:>26} {sigma:>9.2f} {r['false_15']:>10.1%} {r['false_45']:>10.1%} "
                  f"{r['strong_15']:>11.1%} {r['strong_45']:>11.1%} {pairs:>15} {r['wrong']:>7.1%} "
                  f"{r['step']:>9.1%}", flush=True)
    print(f"wall time {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
