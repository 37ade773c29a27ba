"""Hypothesis evolution, decided from the evidence alone (deterministic, so replayable).

- Refine: a comparison refuted at its threshold whose effect is nevertheless real
  (the effect itself is confirmed > 0, guard included) gets a new prediction at the
  bound the data supports: the lower end of the effect's 90% credible interval,
  rounded down to two significant digits.
- Child: a comparison whose effect differs between two levels of another factor
  (the difference of the level means confirmed, guard included) spawns a child
  hypothesis scoped to that factor: "the effect is smaller at <lowest level>".

Every new prediction is judged on runs after the one that triggered it, never on the
data that suggested it.
"""
from __future__ import annotations

import math

from parser.checker.verdicts import Verdict, judge, since
from parser.checker.evidence import Evidence, gather, inside
from parser.checker.pairs import PairIndexes, once_per_pair_state
from parser.schema import Condition, Hypothesis, Prediction, ResultRecord
from trajectory import effects


def _floor2(x: float) -> float:
    """Round down to two significant digits: a claim no stronger than the data."""
    if x <= 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(x)) - 1)
    return math.floor(x / scale) * scale


def refinement(prediction: Prediction, verdict: Verdict, by_id: dict[str, Prediction],
               records: list[ResultRecord], after: str, indexes: PairIndexes | None = None) -> Prediction | None:
    spec = prediction.spec
    if spec.kind != "comparison" or verdict.status != "refuted" or spec.threshold <= 0:
        return None
    ev = gather(prediction, by_id, since(records, prediction.after), indexes)
    effect = Evidence("mean", tuple(y - ev.shift for y in ev.scores), ev.noise)
    j = judge(effect)
    if j is None or j.status != "confirmed":
        return None  # no real effect: the refutation stands as it is
    lo, hi = j.posterior.interval(0.9)
    if spec.relative:
        bound = 1 - math.exp(-lo) if spec.direction == "lower" else math.exp(lo) - 1
    else:
        bound = lo
    bound = _floor2(bound)
    if not 0 < bound < spec.threshold:
        return None
    shown = f"{bound:.0%}" if spec.relative else f"{bound:g}"
    old = f"{spec.threshold:.0%}" if spec.relative else f"{spec.threshold:g}"
    return Prediction(
        id=f"{prediction.id}.1", text=f"{prediction.text} [refined: by {shown}, not {old}]",
        spec=spec.model_copy(update={"threshold": bound}), compiled_by="evolution",
        parent=prediction.id, after=after,
        reason=(f"{prediction.id} refuted at {old} after {verdict.n_pairs} pairs, but the effect is "
                f"real: {effects.comparison(spec, j.posterior.mean, (lo, hi)).value()} "
                f"(90% interval) supports {shown}"))


def child(hypothesis: Hypothesis, prediction: Prediction, by_id: dict[str, Prediction],
          records: list[ResultRecord], grid: dict[str, list], after: str,
          taken: set[str], indexes: PairIndexes | None = None) -> Hypothesis | None:
    spec = prediction.spec
    if spec.kind != "comparison":
        return None
    skip = {spec.factor, "seed", spec.condition.variable if spec.condition else None}
    for factor in (f for f, values in grid.items() if len(values) > 1 and f not in skip):
        new_id = f"{hypothesis.id}.{factor}"
        if new_id in taken:
            continue
        found = once_per_pair_state(spec, since(records, prediction.after), ("levels", factor),
                                    lambda idx: _levels(spec, idx, factor), indexes)
        if found:
            return _child(hypothesis, prediction, factor, *found, after, new_id)
    return None


def _levels(spec, idx, factor: str):
    """(low, high, judgement) when the effect differs between two levels of `factor`, else None."""
    view = inside(idx, spec)
    levels = {k: v for k, v in view.by(factor).items() if len(v) >= 2}
    if len(levels) < 2:
        return None
    means = sorted(levels, key=lambda k: sum(levels[k]) / len(levels[k]))
    low, high = means[0], means[-1]
    j = judge(Evidence("difference", tuple(levels[high]), view.noise(spec.relative),
                       versus=tuple(levels[low])))
    if j is None or j.status != "confirmed":
        return None
    return low, high, j


def _child(hypothesis, prediction, factor, low, high, j, after, new_id) -> Hypothesis:
    spec = prediction.spec
    condition = Condition(variable=factor, op="==", value=low)
    scoped = spec.model_copy(update={"kind": "interaction", "of": prediction.id,
                                     "condition": condition, "threshold": 0.0})
    pred = Prediction(id=f"{prediction.id}@{factor}", compiled_by="evolution", spec=scoped,
                      text=f"The effect in {prediction.id} is smaller at {factor} = {low}",
                      parent=prediction.id, after=after)
    lo, hi = j.posterior.interval(0.9)
    return Hypothesis(
        id=new_id, parent=hypothesis.id, after=after, predictions=[pred],
        initial_config=hypothesis.initial_config,
        claim=(f"The effect of {spec.factor} ({spec.arm} vs {spec.baseline}) on {spec.metric_name()} "
               f"depends on {factor}"),
        reason=(f"the {effects.arms_label(spec)} effect is weaker at {factor}={low} than at {factor}={high} by "
                f"{effects.weaker(spec, j.posterior.mean, (lo, hi)).value()} (90% interval), "
                f"confidence {j.confidence:.2f}, e-value {j.evidence:.3g}"))


def evolve(hypotheses: list[Hypothesis], verdicts: dict[str, Verdict], records: list[ResultRecord],
           grid: dict[str, list], indexes: PairIndexes | None = None) -> list[Prediction | Hypothesis]:
    """What the evidence after the latest run calls for (nothing already spawned)."""
    indexes = indexes or PairIndexes()
    by_id = {p.id: p for h in hypotheses for p in h.predictions}
    taken = {h.id for h in hypotheses} | set(by_id)
    after, changes = records[-1].experiment_id, []
    for h in hypotheses:
        for p in h.predictions:
            refined = refinement(p, verdicts[p.id], by_id, records, after, indexes)
            if refined and refined.id not in taken:
                changes.append(refined)
                taken.add(refined.id)
            spawned = child(h, p, by_id, records, grid, after, taken, indexes)
            if spawned:
                changes.append(spawned)
                taken.add(spawned.id)
    return changes
