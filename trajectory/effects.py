"""Effects in the prediction's own terms: the one place where the checker's scores are translated.

The checker works on per-pair *benefits* b (`parser.checker.scoring.benefit`), signed so b > 0
favours the arm: for a relative prediction b = -log(arm/base) when lower is better
and b = log(arm/base) when higher is, for an absolute one the signed difference. A
verdict's `effect` and `interval` are the posterior mean and 90% interval of the mean
benefit (a bound: of the metric's mean; an interaction: of the drop in benefit from
the reference region to the other). A reader wants what the sentence said instead:

  comparison, relative:   the ratio arm/baseline, exp(-b) or exp(b), beside 1 - tau or 1 + tau
  comparison, absolute:   the difference arm - baseline in the metric's units, beside -tau or +tau
  equivalence:            the ratio (or difference) against its margin
  bound:                  the metric's mean against the bound
  interaction:            the effect in each region and how much weaker it is in the second

Everything here is pure (numbers and specs in, frozen dataclasses and strings out);
`trajectory.findings` gathers the numbers from the log, and every rendering (tree, effects figure,
live view, report, dashboard, trajectory.json) formats what this module returns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from parser.schema import Condition, PredictionSpec

TIMES = "×"


@dataclass(frozen=True)
class Effect:
    """One estimate in the prediction's terms: '<label> <estimate> [lo, hi]; needs <rule>'."""

    # what is estimated: "pre/post steps_to_target", "pre/post steps to val loss 2.0:", "mean final_val_loss"
    label: str
    estimate: float
    interval: tuple[float, float]
    unit: str  # TIMES for a ratio, "" for the metric's units
    needs: str  # the rule it is judged against: "< 0.80", "within [0.952, 1.05]"
    rule: tuple = ()  # the same rule as numbers: ("<", 0.8), ("within", (0.952, 1.05))
    digits: int = 2  # decimals of a ratio: more for a tight equivalence margin

    def _f(self, x: float, bare: bool = False) -> str:
        return fmt(x, self.unit, bare, self.digits)

    def value(self) -> str:
        lo, hi = self.interval
        return f"{self._f(self.estimate)} [{self._f(lo, bare=True)}, {self._f(hi, bare=True)}]"

    def text(self) -> str:
        return f"{self.label} {self.value()}; needs {self.needs}"

    def as_dict(self) -> dict:
        return {"label": self.label, "estimate": self.estimate, "interval": list(self.interval),
                "unit": self.unit, "needs": self.needs, "text": self.text(),
                "rule": {"op": self.rule[0], "value": self.rule[1]} if self.rule else None}


def fmt(x: float, unit: str = "", bare: bool = False, digits: int = 2) -> str:
    """A ratio with two decimals (or `digits`) and its ×, a metric value with four significant digits."""
    if not math.isfinite(x):
        return str(x)
    if unit == TIMES:
        body = f"{x:.{digits}f}" if 0.095 <= abs(x) < 100 else f"{x:.3g}"
        return body if bare else body + TIMES
    return f"{x:.4g}"


def ratio(benefit: float, direction: str) -> float:
    """arm/baseline from a relative benefit: b = -log(ratio) (lower is better) or log(ratio)."""
    return math.exp(-benefit if direction == "lower" else benefit)


def difference(benefit: float, direction: str) -> float:
    """arm - baseline from an absolute benefit: b = -(arm - base) (lower is better) or arm - base."""
    return -benefit if direction == "lower" else benefit


def in_terms(spec: PredictionSpec, benefit: float) -> float:
    """One benefit (a pair's, a mean's, an interval end) as ratio or difference."""
    return ratio(benefit, spec.direction) if spec.relative else difference(benefit, spec.direction)


def _ends(spec: PredictionSpec, interval: tuple[float, float]) -> tuple[float, float]:
    a, b = (in_terms(spec, x) for x in interval)
    return (a, b) if a <= b else (b, a)


def arms_label(spec: PredictionSpec) -> str:
    """'pre/post steps_to_target'; with a written loss target, 'pre/post steps to val loss 2.0'."""
    sep = "/" if spec.relative else " - "
    return f"{spec.arm}{sep}{spec.baseline} {spec.metric_name()}"


def comparison_rule(spec: PredictionSpec) -> tuple[str, float]:
    """The threshold in the same terms as the effect: the ratio or difference the claim needs."""
    if spec.relative:
        return ("<", 1 - spec.threshold) if spec.direction == "lower" else (">", 1 + spec.threshold)
    return ("<", -spec.threshold) if spec.direction == "lower" else (">", spec.threshold)


def comparison_needs(spec: PredictionSpec) -> str:
    op, value = comparison_rule(spec)
    # + 0.0: "< 0", never "< -0"; a ratio with the decimals it needs ("< 0.995", not "< 0.99")
    return f"{op} {value:.{_exact(value)}f}" if spec.relative else f"{op} {value + 0.0:g}"


def _exact(x: float, most: int = 4) -> int:
    """The fewest decimals, 2 to `most`, that write x as it is."""
    return next((d for d in range(2, most) if abs(round(x, d) - x) < 1e-12), most)


def _resolving(numbers: tuple[float, ...], marks: tuple[float, ...], digits: int, most: int = 4) -> int:
    """Decimals, from `digits` up to `most`, at which no number prints as a mark it is not:
    "0.977× [0.975, 0.979]; needs < 0.98", never "0.98× [0.98, 0.98]; needs < 0.98"."""
    def blurred(d: int) -> bool:
        return any(f"{x:.{d}f}" == f"{m:.{d}f}" and abs(x - m) > 1e-12 for x in numbers for m in marks)
    return next((d for d in range(digits, most) if not blurred(d)), most)


def equivalence_rule(spec: PredictionSpec) -> tuple[str, tuple[float, float]]:
    if spec.relative:
        return "within", (1 / (1 + spec.threshold), 1 + spec.threshold)
    return "within", (-spec.threshold, spec.threshold)


def equivalence_needs(spec: PredictionSpec) -> str:
    if spec.relative:
        d = _digits(spec)
        return f"within [{1 / (1 + spec.threshold):.{d}f}, {1 + spec.threshold:.{d}f}]"
    return f"within ±{spec.threshold:g}"


def comparison(spec: PredictionSpec, effect: float, interval: tuple[float, float]) -> Effect:
    """A comparison's (or an equivalence's) mean benefit and interval as ratio or difference."""
    if spec.kind == "equivalence":
        needs, rule = equivalence_needs(spec), equivalence_rule(spec)
    else:
        needs, rule = comparison_needs(spec), comparison_rule(spec)
    label = arms_label(spec) + (":" if spec.target is not None else "")  # the target's number, then the ratio
    estimate, ends = in_terms(spec, effect), _ends(spec, interval)
    digits = _digits(spec)
    if spec.relative:
        marks = rule[1] if spec.kind == "equivalence" else (rule[1],)
        digits = _resolving((estimate, *ends), marks, digits if spec.kind == "equivalence" else _exact(rule[1]))
    return Effect(label, estimate, ends, TIMES if spec.relative else "", needs, rule, digits)


def _digits(spec: PredictionSpec) -> int:
    """Decimals that resolve an equivalence margin: 3 for 5%, 4 for 0.4%; else 2."""
    if spec.kind != "equivalence" or not spec.relative:
        return 2
    return max(2, math.ceil(-math.log10(spec.threshold)) + 1)


def bound(spec: PredictionSpec, mean: float, interval: tuple[float, float]) -> Effect:
    """A bound: the metric's mean (the verdict already holds it in the metric's units)."""
    arm = f" with {spec.factor} = {spec.arm}" if spec.factor else ""
    op = "<" if spec.direction == "lower" else ">"
    return Effect(f"mean {spec.metric}{arm}", mean, (min(interval), max(interval)), "", f"{op} {spec.threshold:g}",
                  (op, spec.threshold))


def bound_mean(spec: PredictionSpec, score: float) -> float:
    """The metric from a bound's score y = bound - m (lower) or m - bound (higher)."""
    return spec.threshold - score if spec.direction == "lower" else spec.threshold + score


@dataclass(frozen=True)
class Interaction:
    """The effect where the comparison was measured, where the interaction says it is smaller,
    and how much weaker it is there (the checker's difference of mean benefits, b_ref - b_there)."""

    reference: Effect
    reference_where: str
    there: Effect
    there_where: str
    drop: Effect

    def text(self) -> str:
        return (f"{self.reference.label} {self.reference.value()} where {self.reference_where} vs "
                f"{self.there.value()} where {self.there_where}; {self.drop.label} {self.drop.value()}; "
                f"needs {self.drop.needs}")

    def short(self) -> str:
        return (f"{fmt(self.there.estimate, self.there.unit)} where {self.there_where} vs "
                f"{fmt(self.reference.estimate, self.reference.unit)} where {self.reference_where}")

    def as_dict(self) -> dict:
        return {"reference": dict(self.reference.as_dict(), where=self.reference_where),
                "there": dict(self.there.as_dict(), where=self.there_where),
                "drop": self.drop.as_dict(), "text": self.text()}


def interaction(spec: PredictionSpec, source: PredictionSpec, reference: tuple[float, tuple],
                there: tuple[float, tuple], drop: float, drop_interval: tuple[float, float]) -> Interaction:
    """Each region's mean benefit and interval, and the drop between them, in the comparison's terms.

    The drop d = b_ref - b_there is a difference of log-ratios (relative): exp(d) is how many
    times weaker the effect is there (r_there / r_ref when lower is better); absolute: d itself,
    in the metric's units. The interaction holds when d > 0.
    """
    ref_where, there_where = regions(spec, source)
    return Interaction(comparison(source, *reference), ref_where, comparison(source, *there), there_where,
                       weaker(source, drop, drop_interval, spec.margin()))


def weaker(source: PredictionSpec, drop: float, interval: tuple[float, float], margin: float = 0.0) -> Effect:
    """An interaction's drop in benefit as how much weaker the effect is in the second region,
    against its practical margin (a fraction for a relative effect, else metric units)."""
    if source.relative:
        lo, hi = sorted(math.exp(x) for x in interval)
        return Effect("the effect is weaker there by", math.exp(drop), (lo, hi), TIMES,
                      f"> {1 + margin:.2f}{TIMES}", (">", 1.0 + margin))
    return Effect(f"the effect is smaller there by ({source.metric_name()})", drop, (min(interval), max(interval)),
                  "", f"> {margin:g}", (">", margin))


def short(spec: PredictionSpec, source: PredictionSpec | None, effect: float | None,
          interval: tuple[float, float] | None) -> str | None:
    """A verdict's estimate alone, in its prediction's terms (the live view's line); None without one."""
    if effect is None or not interval:
        return None
    if spec.kind == "bound":
        return bound(spec, effect, interval).text()
    if spec.kind == "interaction":
        return weaker(source, effect, interval, spec.margin()).text()
    return comparison(spec, effect, interval).text()


_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!="}


def regions(spec: PredictionSpec, source: PredictionSpec) -> tuple[str, str]:
    """Words for the reference region and the one where the interaction says the effect is smaller
    (the same split as `parser.checker.regions.region`)."""
    cond = spec.condition
    there = cond.text()
    if source.condition is not None and source.condition.variable == cond.variable:
        return _within(source.condition, _NEGATED[cond.op], cond.value), there
    within = f"{source.condition.text()}, " if source.condition is not None else ""
    negated = there.replace(f" {cond.op} ", f" {_NEGATED[cond.op]} ", 1)
    return within + negated, within + there


def _within(own: Condition, op: str, value) -> str:
    """`own` and "variable op value" together, in words: the reference region of an interaction
    on the comparison's own variable ("N < 3000" and "N <= 1000": "N <= 1000")."""
    other = Condition(variable=own.variable, op=op, value=value)
    if own.op in ("==", "!=") or op in ("==", "!=") or isinstance(own.value, str) or isinstance(value, str):
        return f"{own.text()} and {other.text()}"
    upper = [c for c in (own, other) if c.op in ("<", "<=")]
    lower = [c for c in (own, other) if c.op in (">", ">=")]
    # the tighter bound on each side; at equal values the strict one
    hi = min(upper, key=lambda c: (c.value, c.op == "<="), default=None)
    lo = max(lower, key=lambda c: (c.value, c.op == ">"), default=None)
    if hi is None or lo is None:
        return (hi or lo).text()
    if lo.value > hi.value:
        return f"{own.text()} and {other.text()}"
    low = f"{lo.value:g}" if isinstance(lo.value, float) else f"{lo.value}"
    return f"{low} {'<' if lo.op == '>' else '<='} {hi.text()}"  # "1000 < N < 3000"


def sentence(spec: PredictionSpec, status: str, found) -> str | None:
    """A plain sentence where the numbers alone do not say it: an interaction (each region's
    effect side by side) and a null or refuted result ('no evidence that ...'); else None."""
    if found is None:
        return None
    if spec.kind == "interaction":
        where = found.there_where
        if status == "confirmed":
            lead = f"the effect is smaller where {where}"
        elif status == "refuted":
            lead = f"the effect is not smaller where {where}"
        elif found.drop.estimate <= (1.0 if found.drop.unit == TIMES else 0.0):
            lead = f"no evidence so far that the effect is smaller where {where}"
        else:
            lead = f"not yet settled whether the effect is smaller where {where}"
        return f"{lead}: {found.short()}"
    if status != "refuted":
        return None
    value = f"{found.label} {found.value()}"
    if spec.kind == "equivalence":
        return f"the arms differ by more than the margin: {value}, not {found.needs}"
    if spec.kind == "bound":
        return f"does not hold: {value}, not {found.needs}"
    return f"no evidence of the claimed effect: {value}, not {found.needs}"
