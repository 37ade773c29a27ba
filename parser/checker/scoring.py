"""A seed pair's score: its two runs' metric values -> the score y the statistics read
(`stats.py`), and for convergence speed the steps each run needs to reach a loss target.
"""
from __future__ import annotations

import math
from typing import Sequence

from run_config import convergence_target


def paired_score(arm: float, base: float, direction: str, threshold: float,
                 relative: bool) -> float | None:
    """The per-pair score y, positive when the pair favours the prediction.

    relative, lower:  y = log(1 - tau) - log(arm / base)
    relative, higher: y = log(arm / base) - log(1 + tau)
    absolute, lower:  y = -tau - (arm - base)
    absolute, higher: y = (arm - base) - tau
    None when a log-ratio is undefined (a non-positive metric).
    """
    if relative:
        if arm <= 0 or base <= 0:
            return None
        ratio = math.log(arm / base)
        return math.log(1 - threshold) - ratio if direction == "lower" else ratio - math.log(1 + threshold)
    diff = arm - base
    return -threshold - diff if direction == "lower" else diff - threshold


def benefit(arm: float, base: float, direction: str, relative: bool) -> float | None:
    """The effect itself (no threshold), positive when the arm is better."""
    return paired_score(arm, base, direction, 0.0, relative)


def pair_target(curve_a: Sequence[Sequence[float]], curve_b: Sequence[Sequence[float]]) -> float | None:
    """The loss target a pair of runs sets: worse_best + 0.1 (start - worse_best).

    worse_best is the larger of the two runs' best losses and start the smaller
    initial loss: 90% of the way to what both achieve, so a run that plateaus early at
    a worse loss sets the bar rather than winning by stopping. None when either curve
    has fewer than two points or nothing was learned.
    """
    if len(curve_a) < 2 or len(curve_b) < 2:
        return None
    worse_best = max(min(l for _, l in curve_a), min(l for _, l in curve_b))
    start = min(curve_a[0][1], curve_b[0][1])
    if not start > worse_best:
        return None
    return convergence_target(start, worse_best)


def steps_to_target(curve_a: Sequence[Sequence[float]], curve_b: Sequence[Sequence[float]],
                    target: float | None = None) -> tuple[float, float] | None:
    """Steps each run needs to reach a loss target: `target` when one was fixed before the
    runs (a design cell's, set by its first pair: `pairs.Index`), else the pair's own
    (`pair_target`). Crossings are linearly interpolated between evaluations; a run
    that never reaches a fixed target counts its last step (it ran to max_steps).

    The steps depend on each curve only up to its first crossing, so a run stopped
    there (`TrainConfig.stop_at_loss`) scores exactly what it would have scored in full.
    None when either curve has fewer than two points, or (no target given) nothing was learned.
    """
    if len(curve_a) < 2 or len(curve_b) < 2:
        return None
    target = pair_target(curve_a, curve_b) if target is None else target
    if target is None:
        return None
    return _first_crossing(curve_a, target), _first_crossing(curve_b, target)


def _first_crossing(curve: Sequence[Sequence[float]], target: float) -> float:
    prev_step, prev_loss = curve[0]
    if prev_loss <= target:
        return float(prev_step)
    for step, loss in curve[1:]:
        if loss <= target:
            return prev_step + (step - prev_step) * (prev_loss - target) / (prev_loss - loss)
        prev_step, prev_loss = step, loss
    return float(curve[-1][0])  # never reached (a fixed target): censored at the last step
