"""False decisions at the threshold, with and without the e-value guard.

    python bench/guard.py [--studies 2000] [--looks 20] [--noise normal|t3|skewed] [--unit-prior]
                          [--noise-scale X] [--cells K --gap G]

The truth sits exactly at the prediction's threshold (mean score 0, seed noise
0.15 on the log scale, times --noise-scale); the checker (`verdicts.judge`, on the
evidence `evidence.py` would build) looks after every pair, as the loop does, and any
confirm or refute is a false decision. The bare posterior (decide at 0.9) against the
posterior plus the anytime-valid e-value (decide at 0.9 and E >= 20).

`--noise` draws the seed noise from a normal (the model's assumption), a Student t
with 3 df (heavy tails), or a centred exponential (strongly skewed), each scaled to
sd 0.15: how far the guarantee carries when the noise is not normal.
`--unit-prior` uses a single half-normal(1) effect prior instead of the mixture.
`--cells K --gap G`: the pairs fall in K design cells in turn, two seeds at a time (the
offline planner's order), whose true means sit G seed-noise sds apart around the
threshold (+G/2 and -G/2 alternately; an odd K leaves the last at 0), so their
equal-weight mean is exactly at it: the stratified guard must not count the gap as
evidence, nor as noise.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parser.checker import stats  # noqa: E402
from parser.checker.evidence import Evidence  # noqa: E402
from parser.checker.verdicts import DECIDE, judge  # noqa: E402


SIGMA = 0.15


def draw(rng: random.Random, noise: str) -> float:
    """One standardized seed-noise draw: mean 0, sd 1."""
    if noise == "t3":  # variance df / (df - 2) = 3
        return rng.gauss(0, 1) / math.sqrt(sum(rng.gauss(0, 1) ** 2 for _ in range(3)) / 3) / math.sqrt(3)
    if noise == "skewed":
        return rng.expovariate(1.0) - 1.0
    return rng.gauss(0, 1)


def cell_means(cells: int, gap: float) -> list[float]:
    """True means in seed-noise sds: +gap/2, -gap/2, ... (an odd count's last at 0): mean 0."""
    means = [(gap / 2 if k % 2 == 0 else -gap / 2) for k in range(cells)]
    if cells % 2:
        means[-1] = 0.0
    return means


def evidence(ys: list[float], labels: list[int]) -> Evidence:
    """The checker's evidence for these scores: the cells' own noise, the fixed guess as stand-in."""
    moments: dict[int, stats.Moments] = {}
    for y, c in zip(ys, labels):
        moments.setdefault(c, stats.Moments()).add(y)
    noise = stats.seed_noise(moments.values(), stats.PRIOR_LOG_SCALE)
    return Evidence("mean", tuple(ys), noise, cells=tuple(labels))


def false_decision_rate(guarded: bool, studies: int, looks: int, seed: int = 11, noise: str = "normal",
                        scales=stats.PRIOR_SCALES, noise_scale: float = 1.0, cells: int = 1,
                        gap: float = 0.0) -> float:
    rng = random.Random(seed)
    sigma, means = SIGMA * noise_scale, cell_means(cells, gap)
    false = 0
    with mock.patch.object(stats.t_evalue, "__defaults__", (tuple(scales),)):  # the e-value's effect prior
        for _ in range(studies):
            ys, labels = [], []
            for i in range(looks):
                c = (i // 2) % cells  # two seeds of a cell, then the next
                ys.append(sigma * (means[c] + draw(rng, noise)))
                labels.append(c)
                j = judge(evidence(ys, labels))
                passed = max(j.confidence, 1 - j.confidence) >= DECIDE
                if guarded:
                    passed = j.status != "undecided"
                if passed:
                    false += 1
                    break
    return false / studies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studies", type=int, default=2000)
    p.add_argument("--looks", type=int, default=20)
    p.add_argument("--noise", choices=["normal", "t3", "skewed"], default="normal")
    p.add_argument("--unit-prior", action="store_true", help="a single half-normal(1) effect prior")
    p.add_argument("--noise-scale", type=float, default=1.0, help="seed noise 0.15 times this")
    p.add_argument("--cells", type=int, default=1, help="design cells the pairs fall in, two seeds at a time")
    p.add_argument("--gap", type=float, default=0.0, help="the cells' true means this many seed-noise sds apart")
    args = p.parse_args()
    scales = (1.0,) if args.unit_prior else stats.PRIOR_SCALES
    start = time.perf_counter()
    common = dict(noise=args.noise, noise_scale=args.noise_scale, cells=args.cells, gap=args.gap)
    bare = false_decision_rate(False, args.studies, args.looks, **common)
    guarded = false_decision_rate(True, args.studies, args.looks, scales=scales, **common)
    print(f"studies {args.studies}, a look after each of {args.looks} pairs, truth at the threshold, "
          f"{args.noise} seed noise of sd {SIGMA * args.noise_scale:g}, {args.cells} cell(s) {args.gap:g} sds apart, "
          f"{'unit' if args.unit_prior else 'mixture'} effect prior")
    print(f"false decisions, posterior alone:        {100 * bare:5.1f} %")
    print(f"false decisions, posterior + e-value:    {100 * guarded:5.1f} %   (Ville bound: 5% per side)")
    print(f"wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
