"""False decisions at the threshold, with and without the e-value guard.

    python bench/guard.py [--studies 2000] [--looks 20]

The truth sits exactly at the prediction's threshold (mean score 0, seed noise
0.15 on the log scale); the checker looks after every pair, as the loop does, and
any confirm or refute is a false decision. The bare posterior (decide at 0.9)
against the posterior plus the anytime-valid e-value (decide at 0.9 and E >= 20).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parser import stats  # noqa: E402


def false_decision_rate(guarded: bool, studies: int, looks: int, seed: int = 11) -> float:
    rng = random.Random(seed)
    false = 0
    for _ in range(studies):
        ys = []
        for _ in range(looks):
            ys.append(rng.gauss(0.0, 0.15))
            post = stats.region_mean(ys, stats.pooled_noise([ys], prior_scale=0.1)).prob_positive()
            side = 1 if post >= 0.5 else -1
            passed = max(post, 1 - post) >= 0.9
            if passed and guarded:
                passed = stats.one_sample_evalue(ys, side) >= stats.E_BOUND
            if passed:
                false += 1
                break
    return false / studies


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--studies", type=int, default=2000)
    p.add_argument("--looks", type=int, default=20)
    args = p.parse_args()
    start = time.perf_counter()
    bare = false_decision_rate(False, args.studies, args.looks)
    guarded = false_decision_rate(True, args.studies, args.looks)
    print(f"studies {args.studies}, a look after each of {args.looks} pairs, truth at the threshold")
    print(f"false decisions, posterior alone:        {100 * bare:5.1f} %")
    print(f"false decisions, posterior + e-value:    {100 * guarded:5.1f} %   (Ville bound: 5% per side)")
    print(f"wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
