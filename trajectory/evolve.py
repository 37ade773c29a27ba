"""Hypothesis evolution, decided from the evidence alone (deterministic, so replayable).

- Refine: a comparison refuted at its threshold whose effect is nevertheless real
  (the effect itself is confirmed > 0, guard included) gets a new prediction at the
  bound the data supports: the lower end of the effect's 90% credible interval,
  rounded down to two significant digits.
- Narrow: a comparison conditioned on a numeric variable ("20% faster at N < 5000"),
  not confirmed, whose effect curve (`trajectory.curves`) crosses the claim's threshold
  inside the values run and inside the claim's region, the crossing's 90% interval
  too, gets the same claim over the region where the curve says it holds: "at N <
  3,100" (the crossing, rounded to two significant digits towards the claim's side).
- Child: a comparison whose effect differs between two levels of another factor
  (the difference of the level means confirmed, guard included) spawns a child
  hypothesis scoped to that factor: "the effect is smaller at <lowest level>".

Every new prediction is judged on runs after the one that triggered it, never on the
data that suggested it, and carries its reason: the difference it confirmed, in the
prediction's own terms (the ratio or difference, with its interval and the e-value's side).
"""
from __future__ import annotations

import math

from parser.checker import stats
from parser.checker.verdicts import Verdict, judge, since
from parser.checker.evidence import Evidence, gather, inside
from parser.checker.pairs import PairIndexes, once_per_pair_state
from parser.checker.regions import source_spec
from parser.design import same
from parser.schema import Condition, Hypothesis, Prediction, ResultRecord
from trajectory import curves, effects, sides


def _round2(x: float, down: bool = True) -> float:
    """Two significant digits, rounded towards the weaker (or narrower) claim: no stronger than the data."""
    if x <= 0:
        return x
    scale = 10 ** (math.floor(math.log10(x)) - 1)
    return (math.floor(x / scale) if down else math.ceil(x / scale)) * scale


def refinement(prediction: Prediction, verdict: Verdict, by_id: dict[str, Prediction],
               records: list[ResultRecord], after: str, indexes: PairIndexes | None = None) -> Prediction | None:
    spec = prediction.spec
    if spec.kind != "comparison" or verdict.status != "refuted" or spec.threshold <= 0:
        return None
    ev = gather(prediction, by_id, since(records, prediction.after), indexes)
    # the effect itself (no threshold), on the verdict's own model: its cells, its noise
    effect = Evidence("mean", tuple(y - ev.shift for y in ev.scores), ev.noise, cells=ev.cells)
    j = judge(effect)
    if j is None or j.status != "confirmed":
        return None  # no real effect: the refutation stands as it is
    lo, hi = j.posterior.interval(0.9)
    if spec.relative:
        bound = 1 - math.exp(-lo) if spec.direction == "lower" else math.exp(lo) - 1
    else:
        bound = lo
    bound = _round2(bound)
    if not 0 < bound < spec.threshold:
        return None
    shown = f"{bound:.0%}" if spec.relative else f"{bound:g}"
    old = f"{spec.threshold:.0%}" if spec.relative else f"{spec.threshold:g}"
    refined = spec.model_copy(update={"threshold": bound})
    return Prediction(
        id=f"{prediction.id}.1", text=f"{prediction.text} [refined: by {shown}, not {old}]",
        spec=refined, compiled_by="evolution", parent=prediction.id, after=after,
        reason=_smaller(prediction.id, spec, refined, verdict, j, (lo, hi)))


def _smaller(pid: str, spec, refined, verdict: Verdict, j, interval: tuple[float, float]) -> str:
    """'p1's pre/post steps_to_target is 0.91× [0.89, 0.93] (90% interval, 6 pairs): real (e-value
    1.2e+03 for ratio < 1.00) but smaller than the ratio < 0.80 claimed; refined to ratio < 0.92'."""
    found = effects.comparison(spec, j.posterior.mean, interval)
    real = sides.rule(spec.model_copy(update={"threshold": 0.0}))  # any effect at all in the claimed direction
    return (f"{pid}'s {effects.arms_label(spec)} is {found.value()} (90% interval, {verdict.n_pairs} pairs): real "
            f"({sides.evidence_for(j.evidence, real)}) but smaller than the {sides.rule(spec)} claimed; "
            f"refined to {sides.rule(refined)}, the end of its interval nearest no effect")


def narrowed(prediction: Prediction, verdict: Verdict, by_id: dict[str, Prediction],
             records: list[ResultRecord], after: str, indexes: PairIndexes | None = None) -> Prediction | None:
    """The claim over the part of its region where the effect curve says it holds, or None."""
    spec, c = prediction.spec, prediction.spec.condition
    if spec.kind != "comparison" or verdict.status in ("confirmed", "untestable") or c is None \
            or c.op not in ("<", "<=", ">", ">="):
        return None
    indexes = indexes or PairIndexes()
    source = source_spec(prediction, by_id)
    # the curve is read from the comparison's pairs alone: once for each state of them
    found = once_per_pair_state(source, since(records, prediction.after), ("curve", spec.model_dump_json()),
                                lambda _: curves.for_prediction(prediction, by_id, records, indexes), indexes)
    if found is None or found["variable"] != c.variable or not found["crossing"]["bounded"]:
        return None
    below, cross = c.op in ("<", "<="), found["crossing"]
    xs = [x for x, _ in found["points"]]
    if found["rising"] == below or not min(xs) <= cross["value"] <= max(xs):
        return None  # the effect grows towards the region's edge, or the crossing is extrapolated
    if (cross["high"] >= c.value) if below else (cross["low"] <= c.value):
        return None  # the crossing may lie outside the region: nothing to narrow
    value = _round2(cross["value"], down=below)
    was, now = f"{c.op} {curves.number(c.value)}", f"{c.op} {curves.number(value)}"
    return Prediction(
        id=f"{prediction.id}.curve", text=f"{prediction.text} [refined: at {c.variable} {now}, not {was}]",
        spec=spec.model_copy(update={"condition": Condition(variable=c.variable, op=c.op, value=value)}),
        compiled_by="evolution", parent=prediction.id, after=after,
        reason=(f"{prediction.id}'s effect curve along {c.variable} (a line through {found['n']} pairs): "
                f"{found['text']}, inside its region {c.variable} {was}; the claim is narrowed to "
                f"{c.variable} {now}, where the curve says it holds"))


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
    noise = view.noise(spec.relative)
    cells = {k: tuple(e.cell for e in view.items if same(e.record.config.get(factor), k)) for k in (low, high)}
    # the two levels' difference on the posterior's model: by cell, so a gap between the other
    # factors' cells within a level is neither evidence nor noise
    j = judge(Evidence("difference", tuple(levels[high]), noise, versus=tuple(levels[low]),
                       cells=cells[high], versus_cells=cells[low]))
    if j is None or j.status != "confirmed":
        return None
    at = {k: stats.region_mean(levels[k], noise) for k in (low, high)}  # each level's effect, for the reason
    return low, high, j, {k: effects.comparison(spec, post.mean, post.interval()) for k, post in at.items()}


def _child(hypothesis, prediction, factor, low, high, j, at, after, new_id) -> Hypothesis:
    spec = prediction.spec
    condition = Condition(variable=factor, op="==", value=low)
    scoped = spec.model_copy(update={"kind": "interaction", "of": prediction.id,
                                     "condition": condition, "threshold": 0.0})
    reason = _differs(prediction.id, spec, factor, low, high, j, at)
    pred = Prediction(id=f"{prediction.id}@{factor}", compiled_by="evolution", spec=scoped,
                      text=f"The effect in {prediction.id} is smaller at {factor} = {low}",
                      parent=prediction.id, after=after, reason=reason)
    return Hypothesis(
        id=new_id, parent=hypothesis.id, after=after, predictions=[pred],
        initial_config=hypothesis.initial_config,
        claim=(f"The effect of {spec.factor} ({spec.arm} vs {spec.baseline}) on {spec.metric_name()} "
               f"depends on {factor}"),
        reason=reason)


def _differs(pid: str, spec, factor: str, low, high, j, at: dict) -> str:
    """'p1's pre/post steps_to_target is 0.90× [...] at learning_rate=0.0003 and 0.45× [...] at
    learning_rate=0.001: weaker at learning_rate=0.0003 by 2.00× [...] (90% intervals), ...'."""
    lo, hi = j.posterior.interval(0.9)
    weaker = effects.weaker(spec, j.posterior.mean, (lo, hi))
    return (f"{pid}'s {effects.arms_label(spec)} is {at[low].value()} at {factor}={low} and {at[high].value()} at "
            f"{factor}={high}: weaker at {factor}={low} by {weaker.value()} (90% intervals), confidence "
            f"{j.confidence:.2f}, {sides.evidence_for(j.evidence, f'a weaker effect at {factor}={low}')}")


def evolve(hypotheses: list[Hypothesis], verdicts: dict[str, Verdict], records: list[ResultRecord],
           grid: dict[str, list], indexes: PairIndexes | None = None) -> list[Prediction | Hypothesis]:
    """What the evidence after the latest run calls for (nothing already spawned)."""
    indexes = indexes or PairIndexes()
    by_id = {p.id: p for h in hypotheses for p in h.predictions}
    taken = {h.id for h in hypotheses} | set(by_id)
    after, changes = records[-1].experiment_id, []
    for h in hypotheses:
        for p in h.predictions:
            for refine in (refinement, narrowed):
                refined = refine(p, verdicts[p.id], by_id, records, after, indexes)
                if refined and refined.id not in taken:
                    changes.append(refined)
                    taken.add(refined.id)
            spawned = child(h, p, by_id, records, grid, after, taken, indexes)
            if spawned:
                changes.append(spawned)
                taken.add(spawned.id)
    return changes
