"""Loop time per iteration outside training, as the log grows.

    python bench/loop_cost.py [--sizes 100 1000]

For each size N, a log of N finished seed-paired runs of the quickstart's space
(simulated metrics, seeds 0..N/8) is written; then the bench times, in-process,
what one iteration of the loop costs besides training: replaying the log into a
study (what --resume pays once), then one more record folded in (checker,
evolution, history), the trajectory written, and the planner's next proposal.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from executor.base import RunPaths  # noqa: E402
from executor.config import TrainConfig  # noqa: E402
from executor.sim import SimExecutor  # noqa: E402
from parser import log  # noqa: E402
from parser.hypothesis import load_hypothesis, search_space  # noqa: E402
from parser.metrics import now, to_record  # noqa: E402
from planner.offline import OfflinePlanner  # noqa: E402
from planner.space import Space  # noqa: E402
from trajectory.study import open_study  # noqa: E402

HYPOTHESIS = ROOT / "examples" / "quickstart.yaml"


def make_log(run_dir: Path, n: int, executor: SimExecutor, hypothesis) -> list:
    space = Space(search_space(hypothesis))
    paths = RunPaths.under(run_dir)
    records, k = [], 0
    while len(records) < n:
        for point in space.points():
            seed = k // len(space.points())
            k += 1
            eid = f"exp_{len(records) + 1:04d}"
            config = TrainConfig(**dict(point, seed=seed), experiment_id=eid,
                                 metrics_path=str(paths.metrics(eid)))
            result = executor.run(config, paths, 60)
            records.append(to_record(result, vars(config), dict(point, seed=seed), {}, now()))
            if len(records) >= n:
                break
    with open(run_dir / log.LOG_NAME, "w") as f:
        f.writelines(r.model_dump_json() + "\n" for r in records)
    return records


def measure(n: int, repeats: int) -> dict:
    hypothesis = load_hypothesis(HYPOTHESIS)
    executor = SimExecutor(ROOT / "examples" / "sim_truth.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        records = make_log(run_dir, n + repeats, executor, hypothesis)
        extra = records[n:]
        (run_dir / log.LOG_NAME).write_text("".join(r.model_dump_json() + "\n" for r in records[:n]))
        start = time.perf_counter()
        study = open_study(run_dir, hypothesis, Space(search_space(hypothesis)), "", resume=True)
        replay = time.perf_counter() - start
        planner = OfflinePlanner(max_seeds=10**6)
        times = []
        for record in extra:
            start = time.perf_counter()
            study.add(record)
            planner.propose(study.predictions, study.verdicts, study.records, study.space)
            times.append(time.perf_counter() - start)
        study.close()
    return {"n": n, "replay_s": replay, "iteration_s": statistics.median(times)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(f"{'logged runs':>12s} {'resume replay':>14s} {'per iteration':>14s}")
    for n in args.sizes:
        r = measure(n, args.repeats)
        print(f"{r['n']:12d} {r['replay_s']:13.2f}s {r['iteration_s']:13.3f}s", flush=True)


if __name__ == "__main__":
    main()
