"""When a validation-loss curve has converged: the one definition the trainer, the
simulator and the checker's steps-to-target share."""
from __future__ import annotations

CONVERGED = 0.1  # converged once within 10% of the total improvement of the best loss


def convergence_target(start: float, best: float) -> float:
    """The loss a run has converged at: best + 0.1 (start - best), the start clamped to >= best."""
    return best + CONVERGED * max(start - best, 0.0)


def convergence_step(val_curve: list[list[float]]) -> int:
    """First eval step whose val loss is within 10% of the total improvement of the best."""
    best = min(loss for _, loss in val_curve)
    target = convergence_target(val_curve[0][1], best)
    return next(int(step) for step, loss in val_curve if loss <= target)
