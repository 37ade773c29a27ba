"""What a study's runs cost, against the full 3-seed grid walk a researcher would do by hand.

Compute is training seconds (each record's `train_time_s`) and training steps (its
`steps`). The walk is every design point of the grid at GRID_SEEDS seeds, each run to
its max_steps (or, where the point does not set one, as long as this study's runs that
ran in full: a script's length is what it ran, never an assumed default); its seconds
are estimated from this study's own runs: their seconds per step (median, runs of the
same shape first) times those steps.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from run_config import TrainConfig
from parser.schema import ResultRecord
from planner.ledger import shape
from planner.space import Space

GRID_SEEDS = 3
_DEFAULT_STEPS = TrainConfig().max_steps


@dataclass(frozen=True)
class Compute:
    seconds: float
    steps: int
    runs: int
    stopped_early: int = 0

    def as_dict(self) -> dict:
        return {"seconds": round(self.seconds, 3), "steps": self.steps, "runs": self.runs,
                "stopped_early": self.stopped_early}


def spent(records: list[ResultRecord]) -> Compute:
    """The study's training seconds and steps, every run counted (failed ones cost too)."""
    return Compute(sum(r.train_time_s if r.train_time_s is not None else r.wall_time_s for r in records),
                   sum(r.steps or 0 for r in records), len(records), sum(r.stopped_early for r in records))


def grid_walk(records: list[ResultRecord], space: Space, seeds: int = GRID_SEEDS) -> Compute | None:
    """The estimated compute of every grid point at `seeds` seeds, in full; None before any
    completed run says what a step costs."""
    rates: dict[tuple, list[float]] = {}
    for r in records:
        if r.status == "completed" and r.steps and r.train_time_s:
            rates.setdefault(shape(r.config), []).append(r.train_time_s / r.steps)
    if not rates:
        return None
    every = [x for xs in rates.values() for x in xs]
    full = [r.steps for r in records if r.status == "completed" and r.steps and not r.stopped_early]
    length = int(statistics.median(full)) if full else _DEFAULT_STEPS
    seconds, steps, points = 0.0, 0, space.points()
    for point in points:
        n = point["max_steps"] if "max_steps" in space.grid else length  # points hold the trainer's defaults
        rate = statistics.median(rates.get(shape(point), every))
        seconds += seeds * n * rate
        steps += seeds * n
    return Compute(seconds, steps, seeds * len(points))


def summary(records: list[ResultRecord], space: Space) -> dict:
    """The study's compute and the walk's, for trajectory.json and the reports."""
    mine, walk = spent(records), grid_walk(records, space)
    return {"study": mine.as_dict(), "grid_walk": walk.as_dict() if walk else None,
            "ratio": round(mine.seconds / walk.seconds, 4) if walk and walk.seconds else None,
            "text": line(mine, walk)}


def line(mine: Compute, walk: Compute | None) -> str:
    early = f", {mine.stopped_early} stopped early at their convergence target" if mine.stopped_early else ""
    text = f"compute: {_seconds(mine.seconds)} of training, {mine.steps:,} steps in {mine.runs} runs{early}"
    if walk is None:
        return text
    return (text + f"; the full {GRID_SEEDS}-seed grid walk ({walk.runs} runs): ~{_seconds(walk.seconds)}, "
            f"{walk.steps:,} steps ({mine.seconds / walk.seconds:.2f} of its seconds)")


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 90 else f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.2f} h"


# --- what the study will cost, on this machine ---------------------------------------------

GPU_SIZED_TOKENS = 2_000_000  # tokens a run trains (steps x seq_len x batch) past which a CPU takes many minutes


def largest(space: Space) -> dict:
    """The grid's design point that trains the most tokens (steps x seq_len x batch)."""
    return max(space.points(), key=lambda p: p.get("max_steps", 0) * p.get("seq_len", 0) * p.get("batch_size", 0))


def rehearsal(space: Space) -> str:
    """How to rehearse smaller when the grid's largest run is GPU-sized (the headline
    hypothesis: 1000 steps of 32 x 256 tokens) and the runs train on a CPU; else ''."""
    point = largest(space)
    if point.get("max_steps", 0) * point.get("seq_len", 0) * point.get("batch_size", 0) < GPU_SIZED_TOKENS:
        return ""
    return (f"these runs are GPU-sized ({point['max_steps']:,} steps of {point['batch_size']} x {point['seq_len']} "
            f"tokens) and no GPU is visible; to rehearse smaller on this CPU: "
            f"--set max_steps={max(point['max_steps'] // 10, 1)} --set seq_len={max(point['seq_len'] // 4, 1)}")


def time_left(records: list[ResultRecord], budget: int, workers: int = 1) -> tuple[float, float, int] | None:
    """(seconds left at most, seconds a run takes here, runs left): this session's runs'
    median wall time times the runs the budget still allows, `workers` at a time."""
    walls = [r.wall_time_s for r in records if r.status == "completed" and r.wall_time_s]
    if not walls:
        return None
    per, left = statistics.median(walls), max(budget - len(records), 0)
    return per * left / max(workers, 1), per, left


def upfront_text(step_s: float | None, point: dict, budget: int, workers: int = 1) -> str:
    """The study's cost before its first run, from one timed step of its largest run: each
    evaluation counted as eval_batches forward passes, a third of a step each."""
    if step_s is None:
        return "the first run will say what the study costs"
    evals = point["max_steps"] / max(point.get("eval_interval", 50), 1) * point.get("eval_batches", 4) / 3
    per = step_s * (point["max_steps"] + evals)
    return (f"~{_seconds(per * budget / max(workers, 1))} for {budget} runs of up to ~{_seconds(per)} on this CPU "
            f"(one timed step: {step_s:.3g} s), {workers} at a time")


def left_text(records: list[ResultRecord], budget: int, workers: int = 1) -> str:
    """'~1.6 h left at most' for the live line, '' before a run has finished."""
    found = time_left(records, budget, workers)
    return f"~{_seconds(found[0])} left at most" if found and found[2] else ""


def cost_text(records: list[ResultRecord], budget: int, workers: int = 1, rehearsal: str = "") -> str | None:
    """'~1.6 h for the 19 runs left at most, ~5.0 min a run on this machine, 1 at a time', with the
    way to rehearse smaller when the runs are GPU-sized on a CPU."""
    found = time_left(records, budget, workers)
    if found is None:
        return None
    total, per, left = found
    text = (f"cost: ~{_seconds(total)} for the {left} runs left at most (~{_seconds(per)} a run on this machine, "
            f"{workers} at a time; the study stops sooner once every prediction is decided)")
    return text + (f"; {rehearsal}" if rehearsal else "")
