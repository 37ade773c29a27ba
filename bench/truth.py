"""The truth of a simulated study: each prediction's noise-free score, to grade verdicts.

Read off the simulator's response surface (`executor/sim.py`) with the checker's own
scoring (`scoring.steps_to_target`, `scoring.benefit`) and its own regions
(`parser/checker/regions.py`), so the truth averages exactly the cells the checker
and the planners count.
"""
from __future__ import annotations

from executor.sim import n_train_samples, simulate
from parser.checker import scoring
from parser.checker.evidence import score_margin
from parser.checker.regions import region, source_spec
from parser.schema import Condition, Prediction, PredictionSpec
from parser.sim_truth import Truth


def true_benefit(truth: Truth, spec: PredictionSpec, cell: dict) -> float | None:
    """The noise-free benefit of spec.arm over spec.baseline in one cell (`scoring.benefit`).

    For steps_to_target it is read off the two noise-free curves with the checker's
    own `scoring.steps_to_target` (at the prediction's written target, if it has one),
    so discrete evaluations and a finite horizon count.
    """
    arm = simulate(truth, dict(cell, **{spec.factor: spec.arm}), noisy=False)
    base = simulate(truth, dict(cell, **{spec.factor: spec.baseline}), noisy=False)
    if spec.metric == "steps_to_target":
        values = scoring.steps_to_target(arm["val_curve"], base["val_curve"], spec.target)
    else:
        values = (arm.get(spec.metric), base.get(spec.metric))
    if values is None or None in values:
        return None
    return scoring.benefit(values[0], values[1], spec.direction, spec.relative)


def holds(truth: Truth, spec: PredictionSpec, cell: dict, condition: Condition | None) -> bool:
    """Whether the condition holds at the cell's arm run, as the checker reads it off that run."""
    if condition is None:
        return True
    point = dict(cell, **{spec.factor: spec.arm})
    name = condition.variable
    value = n_train_samples(truth, point) if name == "n_train_samples" else point.get(name)
    if value is None:  # a metric
        value = simulate(truth, point, noisy=False).get(name)
    return condition.holds(value)


def true_score(truth: Truth, prediction: Prediction, predictions: dict[str, Prediction],
               cells: list[dict]) -> float | None:
    """The prediction's true score: > 0 it holds, < 0 it fails, 0 exactly at its threshold.

    comparison:  mean over the region's cells of (benefit + threshold shift), the shift
                 being `scoring.paired_score(1, 1, ...)`, e.g. log(1 - tau); each cell
                 weighs the same, as under a balanced design.
    equivalence: its margin less |mean benefit| over the region's cells.
    interaction: mean benefit over the cells of its "main" region minus the mean over
                 those of its "versus" (`regions.region`), less its practical margin.
    None when the space has no cell for a region.
    """
    spec, source = prediction.spec, source_spec(prediction, predictions)
    where = [region(spec, source, lambda c, cell=cell: holds(truth, source, cell, c)) for cell in cells]
    main = [cell for cell, part in zip(cells, where) if part == "main"]
    if spec.kind == "comparison":
        mean = _mean_benefit(truth, spec, main)
        shift = scoring.paired_score(1.0, 1.0, spec.direction, spec.threshold, spec.relative)
        return None if mean is None else mean + shift
    if spec.kind == "equivalence":
        mean = _mean_benefit(truth, spec, main)
        return None if mean is None else score_margin(spec) - abs(mean)
    versus = [cell for cell, part in zip(cells, where) if part == "versus"]
    if not main or not versus:
        return None
    ref, ins = _mean_benefit(truth, source, main), _mean_benefit(truth, source, versus)
    return None if ref is None or ins is None else ref - ins - score_margin(spec)


def _mean_benefit(truth: Truth, spec: PredictionSpec, cells: list[dict]) -> float | None:
    values = [b for c in cells if (b := true_benefit(truth, spec, c)) is not None]
    return sum(values) / len(values) if values else None
