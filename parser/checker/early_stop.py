"""Where a run may stop early: the loss at which the rest of its curve can change no score.

Convergence speed (steps_to_target) is read off each curve at its first crossing of
a loss target fixed before the run (`pairs.metric_values`): the one written in the
prediction ("reaches val loss 2.0 20% sooner"), else the design cell's, which the
cell's first pair fixed; the curve after that crossing enters no score. So a run may
stop once its val loss is at or below the target, and its seed partner keeps going
until it crosses too or reaches max_steps (a run that never crosses counts max_steps).
That holds only if nothing else reads the run: every prediction whose comparison the
run is an arm of must score steps_to_target, with a condition on a factor or on
n_train_samples (neither moves when a run stops), and have a target for the run's
cell (a written target holds for every cell, the first pair's too); a bound that
counts the run, or any other metric, and the run trains in full. Across several such
predictions the run stops at the lowest of their targets, which it crosses last.
"""
from __future__ import annotations

from run_config import FACTORS
from parser.checker.pairs import PairIndexes
from parser.checker.regions import source_spec
from parser.checker.verdicts import since
from parser.design import cell_key, same
from parser.schema import Prediction, PredictionSpec, ResultRecord

SPEED = "steps_to_target"
UNMOVED = ("n_train_samples",)  # metrics a run reports whatever step it stops at


def _steady(spec: PredictionSpec) -> bool:
    """Whether the spec's condition reads only what an early stop cannot move."""
    return spec.condition is None or spec.condition.variable in FACTORS or spec.condition.variable in UNMOVED


def stop_target(predictions: list[Prediction], records: list[ResultRecord], point: dict,
                indexes: PairIndexes | None = None) -> float | None:
    """The loss at which a run at design point `point` may stop; None: it trains to max_steps."""
    by_id = {p.id: p for p in predictions}
    indexes = indexes or PairIndexes()
    targets = []
    for p in predictions:
        spec, source = p.spec, source_spec(p, by_id)
        if spec.kind == "bound":
            if not spec.factor or same(point.get(spec.factor), spec.arm):
                return None  # a bound reads this run's own metric
            continue
        if not (same(point.get(source.factor), source.arm) or same(point.get(source.factor), source.baseline)):
            continue  # not an arm of this comparison
        if source.metric != SPEED or not (_steady(spec) and _steady(source)):
            return None
        target = source.target if source.target is not None else \
            indexes.index(source, since(records, p.after)).targets.get(cell_key(point, source.factor))
        if target is None:
            return None  # this cell's first pair runs in full: it sets the target
        targets.append(target)
    return min(targets) if targets else None
