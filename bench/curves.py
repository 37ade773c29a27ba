"""Where an effect crosses its threshold along a continuous factor: coverage and width of
the 90% crossing interval (`parser/checker/trend.py`) for several designs.

    python bench/curves.py                    # 2000 simulated studies per row
    python bench/curves.py --studies 500

Each study draws a true crossing N* log-uniformly in [300, 3000] and paired scores
y = slope * log(N* / N) + noise (score units: > 0 where the prediction holds, as the
checker's `stats.paired_score`; slope 0.1 is a steps ratio that moves ~10% per e-fold
of data), measured on a design of data sizes N in [100, 10000]. The design walked by
hand is five log-spaced sizes with three seeds each (15 pairs). Reported per design and
noise: the share of intervals holding N*, the share that are bounded, their median
width (as the ratio high / low), and the pairs the design spends.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=2000)
    ap.add_argument("--slope", type=float, default=0.1)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.03, 0.1])
    args = ap.parse_args(argv)
    start = time.perf_counter()
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
