"""Seed-paired spread with a fixed training subset against one drawn from each seed.

    python bench/subsets.py [--data-dir ../shared/data] [--seeds 8] [--fraction 0.05] [--steps 200]

Real text (tiny shakespeare, byte level), transformer_tiny, pre-norm vs post-norm, the
same seeds in both modes: `data_subset: fixed` (one subset of the fraction for every
run, the old behaviour) and `data_subset: seed` (each seed draws its own subset, which
both arms of its pair share). For each mode it prints the paired scores' mean and
between-seed standard deviation, for the log-ratio of final val loss and of steps to
the pair's common target (the checker's convergence measure), and the pairs the
guard's e-value would need to pass its bound at that standardized effect (the
prediction "pre-norm is better", threshold 0). Runs are trained in this process, one
after another, interleaving the modes so both see the same machine load.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from executor import train  # noqa: E402
from run_config import TrainConfig  # noqa: E402
from parser.checker import scoring, stats  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(out: Path, mode: str, seed: int, norm: str, args) -> dict:
    config = TrainConfig(experiment_id=f"{mode}_{seed}_{norm}", model="transformer_tiny",
                         dataset="tinyshakespeare", data_dir=args.data_dir, norm_position=norm,
                         learning_rate=3e-3, dataset_fraction=args.fraction, data_subset=mode, seq_len=64,
                         batch_size=16, max_steps=args.steps, eval_interval=10, eval_batches=4, seed=seed,
                         device="cpu", threads=1, metrics_path=str(out / f"{mode}_{seed}_{norm}.json"))
    with contextlib.redirect_stdout(io.StringIO()):
        return train.train(config)


def pairs_to_decide(mean: float, sd: float, most: int = 200) -> int | None:
    """Fewest pairs n at which scores with this mean and sd give E >= E_BOUND (t = mean/sd*sqrt(n))."""
    if sd <= 0 or mean <= 0:
        return None
    for n in range(3, most + 1):
        if stats.t_evalue(mean / sd * math.sqrt(n), n, n - 1, 1) >= stats.E_BOUND:
            return n
    return None


def summary(scores: list[float]) -> dict:
    mean, sd = statistics.fmean(scores), statistics.stdev(scores)
    return {"mean": round(mean, 4), "sd": round(sd, 4), "pairs_to_decide": pairs_to_decide(mean, sd)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args()
    scores = {mode: {"final_val_loss": [], "steps_to_target": []} for mode in ("fixed", "seed")}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for mode in ("fixed", "seed"):
                pre, post = (run(Path(tmp), mode, seed, norm, args) for norm in ("pre", "post"))
                # positive when pre-norm is better: lower loss, fewer steps
                scores[mode]["final_val_loss"].append(math.log(post["final_val_loss"] / pre["final_val_loss"]))
                steps = scoring.steps_to_target(pre["val_curve"], post["val_curve"])
                if steps is not None and min(steps) > 0:
                    scores[mode]["steps_to_target"].append(math.log(steps[1] / steps[0]))
        n_train = pre["n_train_samples"]
    result = {mode: {metric: summary(values) for metric, values in by_metric.items()}
              for mode, by_metric in scores.items()}
    print(json.dumps({"n_train_samples": n_train, "seeds": args.seeds, "steps": args.steps, **result}, indent=1))


if __name__ == "__main__":
    main()
