"""False decisions at the threshold, with and without the e-value guard.

    python bench/guard.py [--studies 2000] [--looks 20] [--noise normal|t3|skewed] [--unit-prior]

The truth sits exactly at the prediction's threshold (mean score 0, seed noise
0.15 on the log scale); the checker looks after every pair, as the loop does, and
any confirm or refute is a false decision. The bare posterior (decide at 0.9)
against the posterior plus the anytime-valid e-value (decide at 0.9 and E >= 20).

`--noise` draws the seed noise from a normal (the model's assumption), a Student t
with 3 df (heavy tails), or a centred exponential (strongly skewed), each scaled to
sd 0.15: how far the guarantee carries when the noise is not normal.
`--unit-prior` uses a single half-normal(1) effect prior instead of the mixture.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parser.checker import stats  # noqa: E402


SIGMA = 0.15


def draw(rng: random.Random, noise: str) -> float:
    """One score at the threshold: mean 0, sd SIGMA."""
    if noise == "t3":  # variance df / (df - 2) = 3
        z = rng.gauss(0, 1) / math.sqrt(sum(rng.gauss(0, 1) ** 2 for _ in range(3)) / 3) / math.sqrt(3)
    elif noise == "skewed":
        z = rng.expovariate(1.0) - 1.0
    else:
        z = rng.gauss(0, 1)
    return SIGMA * z


def false_decision_rate(guarded: bool, studies: int, looks: int, seed: int = 11,
                        noise: str = "normal", scales=stats.PRIOR_SCALES) -> float:
    rng = random.Random(seed)
    false = 0
    for _ in range(studies):
        ys = []
        for _ in range(looks):
            ys.append(draw(rng, noise))
            post = stats.region_mean(ys, stats.pooled_noise([ys], prior_scale=0.1)).prob_positive()
            side = 1 if post >= 0.5 else -1
            passed = max(post, 1 - post) >= 0.9
            if passed and guarded:
                passed = stats.one_sample_evalue(ys, side, scales) >= stats.E_BOUND
            if passed:
                false += 1
                break
    return false / studies


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--studies", type=int, default=2000)
    p.add_argument("--looks", type=int, default=20)
    p.add_argument("--noise", choices=["normal", "t3", "skewed"], default="normal")
    p.add_argument("--unit-prior", action="store_true", help="a single half-normal(1) effect prior")
    args = p.parse_args()
    scales = (1.0,) if args.unit_prior else stats.PRIOR_SCALES
    start = time.perf_counter()
    bare = false_decision_rate(False, args.studies, args.looks, noise=args.noise)
    guarded = false_decision_rate(True, args.studies, args.looks, noise=args.noise, scales=scales)
    print(f"studies {args.studies}, a look after each of {args.looks} pairs, truth at the threshold, "
          f"{args.noise} seed noise, {'unit' if args.unit_prior else 'mixture'} effect prior")
    print(f"false decisions, posterior alone:        {100 * bare:5.1f} %")
    print(f"false decisions, posterior + e-value:    {100 * guarded:5.1f} %   (Ville bound: 5% per side)")
    print(f"wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
