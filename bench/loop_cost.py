"""Loop time per iteration outside training, as the log grows.

    python bench/loop_cost.py [--sizes 100 1000 10000] [--repeats 5]

For each size N, a log of N finished seed-paired runs of the quickstart's space
(simulated metrics, seeds 0..N/8) is written; then the bench times, in-process,
what one iteration of the loop costs besides training: opening the study on the
log alone (a full replay, as with no checkpoint or a stale one) and the first
proposal; then, after the study stops (which leaves its checkpoint), what --resume
pays once: opening it again and the first proposal; then, per iteration, one more
record folded in (checker, evolution, history, the trajectory write, which the study
paces to at most ~5% of the loop's time and, once it is slow, runs in a thread) and
the planner's next proposal. Halfway through the iterations one write is made due,
so the slowest iteration includes one that starts a write.

Two worlds: "decided", the quickstart's simulated truth (every prediction is
settled early, so later proposals only check that), and "open", the same space
with the true effect exactly at p1's threshold and no interaction, so both
predictions stay undecided and every proposal ranks every candidate by expected
information gain over thousands of pairs: the planner's worst case.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from executor.base import RunPaths  # noqa: E402
from run_config import TrainConfig, to_dict  # noqa: E402
from executor.sim import SimExecutor  # noqa: E402
from parser.sim_truth import load_truth  # noqa: E402
from parser import log  # noqa: E402
from parser.hypothesis import load_hypothesis, search_space  # noqa: E402
from parser.log import now  # noqa: E402
from parser.metrics import to_record  # noqa: E402
from planner.offline import OfflinePlanner  # noqa: E402
from planner.space import Space  # noqa: E402
from trajectory.study import open_study  # noqa: E402

HYPOTHESIS = ROOT / "examples" / "quickstart.yaml"
TRUTH = ROOT / "examples" / "sim_truth.yaml"


def truth_file(world: str, folder: Path) -> Path:
    """The quickstart's truth ("decided") or one with p1 at its threshold ("open")."""
    if world == "decided":
        return TRUTH
    truth = yaml.safe_load(TRUTH.read_text())
    at_threshold = math.log(0.8)  # pre-norm exactly 20% faster everywhere: p1 at its bound, p2 null
    truth["effects"] = [{"on": "tau", "factor": "norm_position", "levels": {"pre": at_threshold, "post": 0.0}}]
    path = folder / "open_truth.yaml"
    path.write_text(yaml.safe_dump(truth))
    return path


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
            records.append(to_record(result, to_dict(config), {}, now()))
            if len(records) >= n:
                break
    with open(run_dir / log.LOG_NAME, "w") as f:
        f.writelines(r.model_dump_json() + "\n" for r in records)
    return records


def measure(n: int, repeats: int, world: str) -> dict:
    hypothesis = load_hypothesis(HYPOTHESIS)
    with tempfile.TemporaryDirectory() as tmp:
        executor = SimExecutor(load_truth(truth_file(world, Path(tmp))))
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        records = make_log(run_dir, n + repeats, executor, hypothesis)
        extra = records[n:]
        (run_dir / log.LOG_NAME).write_text("".join(r.model_dump_json() + "\n" for r in records[:n]))
        replay, study, _ = opened(run_dir, hypothesis)
        study.stop("the bench stops it", now())
        study.close()
        resume, study, planner = opened(run_dir, hypothesis)
        times = []
        for k, record in enumerate(extra):
            if k == len(extra) // 2:
                study.settle()
                study.writes.next_write = 0.0  # the pacing would wait ~19 writes' time: make one due now
            start = time.perf_counter()
            study.append(record)
            planner.propose(study.predictions, study.verdicts, study.records, study.space, (), study.indexes)
            times.append(time.perf_counter() - start)
        open_ = sum(not v.decided for v in study.verdicts.values())
        study.close()
    return {"n": n, "world": world, "replay_s": replay, "resume_s": resume, "restored": study.restored,
            "iteration_s": statistics.median(times), "max_s": max(times), "open": open_,
            "predictions": len(study.verdicts)}


def opened(run_dir: Path, hypothesis) -> tuple[float, object, OfflinePlanner]:
    """Seconds to open the study and make the first proposal (what a loop pays before its first run)."""
    start = time.perf_counter()
    study = open_study(run_dir, hypothesis, Space(search_space(hypothesis)), "", resume=True)
    planner = OfflinePlanner(max_seeds=10**6)
    # the first proposal reads the log into the planner's ledger, unless the checkpoint held it
    planner.propose(study.predictions, study.verdicts, study.records, study.space, (), study.indexes)
    return time.perf_counter() - start, study, planner


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--worlds", nargs="+", default=["decided", "open"], choices=["decided", "open"])
    args = p.parse_args()
    print(f"{'world':>8s} {'logged runs':>12s} {'full replay':>12s} {'resume':>8s} {'per iteration':>14s} "
          f"{'slowest':>9s} {'open predictions':>17s}")
    for n in args.sizes:
        for world in args.worlds:
            r = measure(n, args.repeats, world)
            assert r["restored"] == n, "the resume did not start from the checkpoint"
            print(f"{world:>8s} {r['n']:12d} {r['replay_s']:11.2f}s {r['resume_s']:7.2f}s {r['iteration_s']:13.3f}s "
                  f"{r['max_s']:8.3f}s {r['open']:>8d} of {r['predictions']}", flush=True)


if __name__ == "__main__":
    main()
