"""Issue 27's held-out cases through the real loop on the simulator, beside a plain answer by hand.

    python bench/held_out.py                    # both cases, 20 noise draws each
    python bench/held_out.py --case dropout --draws 5

dropout   (item 1) "Final val loss 0.5% lower with dropout 0.0 vs dropout 0.2": dropout
          costs 1.2% at a 0.2% seed spread (bench/truths/dropout-small-noise*.yaml).
          Must be decided within the 3-seed grid walk (8 points x 3 seeds = 24 runs).
prenorm   (item 5) "20% faster with pre-norm vs post-norm": 0.45x at one learning rate,
          0.9x at the other, 0.64x on average (bench/truths/prenorm-by-lr*.yaml). Must be
          decided within the 40-run budget.

Each draw is the same truth with another noise draw (`noise.draw`). Beside the loop's verdict
the plain paired answer: the Student-t 90% interval of the pairs' log-ratios as they stand,
cells ignored (mean +- t_{n-1} sd / sqrt(n)), and the true ratio from the noise-free surface.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scipy.special import stdtrit  # noqa: E402

import loop  # noqa: E402
from bench.truth import true_score  # noqa: E402
from executor.sim import SimExecutor  # noqa: E402
from parser.checker.pairs import benefits  # noqa: E402
from parser.sim_truth import load_truth  # noqa: E402
from planner.offline import OfflinePlanner  # noqa: E402

TRUTHS = ROOT / "bench" / "truths"
CASES = {"dropout": ("dropout-small-noise", 24), "prenorm": ("prenorm-by-lr", 40)}


def plain_interval(scores: list[float], mass: float = 0.9) -> tuple[float, float, float] | None:
    """exp of mean +- t_{n-1} sd / sqrt(n) of the pairs' log-ratios (the benefit, no threshold)."""
    n = len(scores)
    if n < 2:
        return None
    m, sd = statistics.fmean(scores), statistics.stdev(scores)
    half = float(stdtrit(n - 1, 0.5 + mass / 2)) * sd / math.sqrt(n)
    return math.exp(-m), math.exp(-(m + half)), math.exp(-(m - half))  # arm / base: exp(-benefit) for "lower"


def run(name: str, draw: int) -> dict:
    stem, budget = CASES[name]
    truth = load_truth(TRUTHS / f"{stem}-truth.yaml")
    truth = truth.model_copy(update={"noise": truth.noise.model_copy(update={"draw": draw})})
    with tempfile.TemporaryDirectory(prefix="held-out-") as tmp:
        args = loop.parse_args(["--hypothesis", str(TRUTHS / f"{stem}.yaml"), "--executor", "sim",
                                "--max-experiments", str(budget), "--out", str(Path(tmp) / "run")])
        study = loop.open_from_args(args)
        with contextlib.redirect_stdout(io.StringIO()):
            reason = loop.research(study, OfflinePlanner(max_seeds=args.max_seeds, max_runs=budget),
                                   SimExecutor(truth), loop.LoopOptions.from_args(args))
    v = study.verdicts["p1"]
    decided_at = next((k for k, entry in enumerate(study.history, start=1)
                       if all(entry["status"].get("p1") == v.status for entry in study.history[k - 1:])), None)
    prediction = next(p for p in study.predictions if p.id == "p1")
    scores = [e.score for e in benefits(prediction.spec, study.records)]
    true = true_score(truth, prediction, {"p1": prediction}, study.space.cells(prediction.spec.factor))
    track = forecasts(prediction, study.records, study.indexes.pairs.needed)
    shift = -math.log(1 - prediction.spec.threshold)
    return {"draw": draw, "status": v.status, "confidence": v.confidence, "effect": math.exp(-v.effect),
            "interval": sorted(math.exp(-x) for x in v.interval), "evidence": v.evidence, "n_pairs": v.n_pairs,
            "runs": len(study.records), "decided_at_run": decided_at if v.decided else None, "stop": reason,
            "plain": plain_interval(scores), "true_ratio": math.exp(-(true + shift)), "forecasts": track}


def forecasts(prediction, records, needed: dict | None = None) -> dict:
    """After each pair while p1 is open: the report's forecast of more pairs (trajectory/findings.py:
    the posterior's noise, n - 1 df, at least 1) and the guard's own (`verdicts.more_to_decide`);
    for each, how many came true (decided within that many more pairs) and how often a forecast
    of one more pair was followed, one pair later, by the same forecast, still open. `needed`:
    the levels the study's verdicts must see (`PairIndexes.needed`), as the loop judged them."""
    from parser.checker import stats
    from parser.checker.evidence import gather
    from parser.checker.pairs import PairIndexes
    from parser.checker.verdicts import judge, more_to_decide

    by_id = {prediction.id: prediction}
    steps = []  # (pairs so far, decided?, report's k, guard's k)
    for end in range(2, len(records) + 1, 2):
        indexes = PairIndexes()
        indexes.needed = dict(needed or {})
        ev = gather(prediction, by_id, records[:end], indexes)
        j = judge(ev)
        if j is None:
            continue
        if j.status != "undecided":
            steps.append((len(ev.scores), True, 0, 0))
            break
        delta = (sum(ev.scores) / len(ev.scores)) / ev.noise.scale
        k = stats.more_scores_to_decide(delta, len(ev.scores), limit=1000)
        steps.append((len(ev.scores), False, None if k is None else max(k, 1, ev.to_open), more_to_decide(ev)))
    out = {}
    for which, col in (("report", 2), ("guard", 3)):
        made = [(s[0], s[col]) for s in steps if not s[1] and s[col] is not None]
        decided_at = next((s[0] for s in steps if s[1]), None)
        true_ = sum(decided_at is not None and decided_at <= n + k for n, k in made)
        repeated = sum(1 for a, b in zip(steps, steps[1:]) if not a[1] and not b[1] and a[col] == 1 and b[col] == 1)
        out[which] = {"made": len(made), "came_true": true_, "one_more_repeated": repeated}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=[*CASES, "both"], default="both")
    p.add_argument("--draws", type=int, default=20)
    args = p.parse_args(argv)
    names = list(CASES) if args.case == "both" else [args.case]
    for name in names:
        started = time.perf_counter()
        rows = [run(name, d) for d in range(args.draws)]
        budget = CASES[name][1]
        print(f"{name}: {args.draws} noise draws, budget {budget} runs, true ratio {rows[0]['true_ratio']:.4f}")
        for r in rows:
            lo, hi = r["interval"]
            plain = r["plain"]
            plain_text = f"{plain[0]:.4f} [{plain[1]:.4f}, {plain[2]:.4f}]" if plain else "-"
            print(f"  draw {r['draw']:2d}: {r['status']:9s} {r['confidence']:.2f} after {r['runs']:2d} runs "
                  f"(decided at run {r['decided_at_run'] or '-'}), e-value {r['evidence']:.3g}, "
                  f"{r['effect']:.4f} [{lo:.4f}, {hi:.4f}] over {r['n_pairs']} pairs; plain paired {plain_text}")
        for which in ("report", "guard"):
            made = sum(r["forecasts"][which]["made"] for r in rows)
            true_ = sum(r["forecasts"][which]["came_true"] for r in rows)
            repeated = sum(r["forecasts"][which]["one_more_repeated"] for r in rows)
            print(f"  forecasts ({which}): {made} made while open, {true_} came true; "
                  f"'1 more pair' repeated a pair later, still open: {repeated}")
        decided = [r for r in rows if r["decided_at_run"]]
        right = [r for r in decided if r["status"] == "confirmed"]
        runs = [r["decided_at_run"] for r in decided]
        print(f"  decided {len(decided)}/{len(rows)} (confirmed {len(right)}), runs to decide median "
              f"{statistics.median(runs) if runs else '-'}, max {max(runs) if runs else '-'} "
              f"(budget {budget}); {time.perf_counter() - started:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
