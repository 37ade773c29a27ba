"""Effect curves: a comparison's effect as a function of a numeric variable, with its 90%
band and, where it crosses the prediction's threshold, the value and its interval.

For a prediction conditioned on a numeric variable ("... at N < 5000", "diminishes at
N > 50000"), every pair of its comparison is placed at its value of that variable (a
config field, or a metric such as n_train_samples) and `parser.checker.trend` fits the
line in log x (x when a value is <= 0 or the values span less than 4x). The curve is
shown in the prediction's own terms (ratio or difference, `trajectory.effects`); the
crossing is where the effect equals what the claim needs (0.80x for "20% faster").
A curve needs three distinct values: two give a line but no way to see its shape.

Where replicates show the line does not fit (the lack-of-fit test the checker reads a range's
verdict by, at its level), the curve is still drawn but no crossing is read off it, and its
text says why.

The crossing's interval is Fieller's at 90%, except in a study stopped because every
prediction was decided: that stop is chosen by the same scores the line is fitted to (it
comes sooner when the slope happens to look steep), and a fixed-sample 90% interval read
there held the true crossing in 84.9% of 166 simulated studies; read at 95% it held it in
91.6% (BENCHMARKS.md, "Effect curves"). There it is read at 95% and says so.
"""
from __future__ import annotations

import math

from parser.checker import along, scoring, stats, trend
from parser.checker.pairs import PairIndexes
from parser.checker.regions import source_spec
from parser.checker.verdicts import since
from parser.ranges import FactorRange
from parser.schema import Prediction, PredictionSpec, ResultRecord
from trajectory import effects

BAND_POINTS = 25
MAX_PLACED = 3  # values a study adds to one range factor to place a crossing
CANDIDATES = 33  # values over a range among which placement chooses
PLACED = "to place where"  # marks those space extensions
MASS = 0.9  # the band's and the crossing's interval
STOPPED_MASS = 0.95  # the crossing's, in a study its verdicts stopped (see above)


def variable(prediction: Prediction, by_id: dict[str, Prediction]) -> str | None:
    """The numeric variable the prediction asks about, from its own or its comparison's condition."""
    for spec in (prediction.spec, by_id[prediction.spec.of].spec if prediction.spec.of in by_id else None):
        if spec is not None and spec.condition is not None and _number(spec.condition.value) is not None:
            return spec.condition.variable
    return None


def for_prediction(prediction: Prediction, by_id: dict[str, Prediction], records: list[ResultRecord],
          indexes: PairIndexes | None = None, mass: float = MASS) -> dict | None:
    """The comparison's effect curve along the variable the prediction is conditioned on,
    from every pair of the comparison (since the prediction was made); None where there is none.
    `mass`: the crossing interval's (MASS, or STOPPED_MASS at a stop the verdicts chose)."""
    name = variable(prediction, by_id)
    if name is None or prediction.spec.kind == "bound":
        return None
    source = source_spec(prediction, by_id)
    entries = (indexes or PairIndexes()).index(source, since(records, prediction.after)).scored
    return curve(source, list(entries), name, mass)


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _at(entry, name: str) -> float | None:
    config, metrics = entry.record.config, entry.record.metrics or {}
    return _number(config[name] if name in config else metrics.get(name))


def _level(spec: PredictionSpec) -> float:
    """The benefit at the claim's threshold: where 'holds' turns into 'does not'."""
    return -scoring.paired_score(1.0, 1.0, spec.direction, spec.threshold, spec.relative)


def curve(source: PredictionSpec, entries: list, name: str, mass: float = MASS) -> dict | None:
    """The effect of `source`'s comparison along `name`, from its scored pairs, with a MASS band
    and the crossing's `mass` interval; None without three distinct values."""
    points = [(x, e.score) for e in entries if (x := _at(e, name)) is not None]
    if len({x for x, _ in points}) < trend.MIN_VALUES:
        return None
    xs = [x for x, _ in points]
    log = min(xs) > 0 and max(xs) / min(xs) >= 4
    prior = stats.PRIOR_LOG_SCALE if source.relative else \
        stats.PRIOR_ABS_FRACTION * max(abs(e.base) for e in entries)
    fitted = trend.fit(points, prior, log=log)
    if fitted is None:
        return None
    band = []
    for x in _grid(min(xs), max(xs), log):
        post = fitted.at(x)
        lo, hi = sorted(effects.in_terms(source, v) for v in post.interval(MASS))
        band.append([x, effects.in_terms(source, post.mean), lo, hi])
    bend = _bend(points, prior, log)
    cross = fitted.crossing(_level(source), mass) if bend is None else trend.Crossing(None, None, None, mass)
    shown = {"variable": name, "log": log, "n": fitted.n, "label": effects.arms_label(source),
            "unit": effects.TIMES if source.relative else "",
            "points": [[x, effects.in_terms(source, y)] for x, y in points],
            "band": band, "rising": fitted.slope > 0,  # the benefit grows along the variable
            "threshold": effects.in_terms(source, _level(source)),
            "crossing": {"value": cross.value, "low": cross.low, "high": cross.high, "bounded": cross.bounded,
                         "mass": mass},
            "text": _text(source, name, cross, min(xs), max(xs)) if bend is None else
            f"not a straight line along {name} (lack of fit p {along.p_text(bend)}): no crossing is read off it"}
    return shown if bend is None else dict(shown, lack_of_fit=bend)


def _bend(points: list[tuple[float, float]], prior: float, log: bool) -> float | None:
    """The lack-of-fit p of the curve's line where it rejects at the checker's level
    (`along.STRAIGHT_LEVEL`): a step or a V has no crossing to read off a line. None: straight
    enough, or no replicates to tell."""
    us = [(math.log(x) if log else x, y, ()) for x, y in points]
    line = trend.fit_common_slope(us, prior)
    test = trend.lack_of_fit(us, line) if line else None
    return test.p if test and test.p < along.STRAIGHT_LEVEL else None


def _grid(low: float, high: float, log: bool) -> list[float]:
    if log:
        a, b = math.log(low), math.log(high)
        return [math.exp(a + (b - a) * i / (BAND_POINTS - 1)) for i in range(BAND_POINTS)]
    return [low + (high - low) * i / (BAND_POINTS - 1) for i in range(BAND_POINTS)]


def number(x: float | None) -> str:
    if x is None:
        return "?"
    if not math.isfinite(x):
        return "∞"
    if abs(x) >= 1e7:
        return f"{x:.2g}"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _text(source: PredictionSpec, name: str, cross: trend.Crossing, low: float, high: float) -> str:
    needs = effects.in_terms(source, _level(source))
    at = f"{effects.fmt(needs, effects.TIMES if source.relative else '')}"
    if not cross.bounded:
        return f"where the effect crosses {at} along {name} can't be placed yet (no clear trend over " \
               f"{number(low)}-{number(high)})"
    inside = low <= cross.value <= high
    where = "" if inside else f", outside the values run ({number(low)}-{number(high)}): an extrapolation"
    level = "" if cross.mass == MASS else \
        f" ({cross.mass:.0%} interval, not {MASS:.0%}: the study stopped as soon as its verdicts were decided, " \
          f"and a {MASS:.0%} interval read at such a stop is too narrow)"
    return f"the effect crosses {at} at {name} ≈ {number(cross.value)} [{number(cross.low)}, {number(cross.high)}]{where}{level}"


def placement(curve: dict, space, extensions: list[dict]) -> tuple[str, float, str] | None:
    """(factor, value, why): the value inside a declared range where one more pair narrows
    the crossing most, when the grid holds none near it (within 1.25x on a log range, a
    tenth of the range else: the planner can already run there).

    Narrowing, by the delta method: the crossing u* (u = log x, or x) has variance
    s^2 / b^2 (1/n + (u* - ubar)^2 / Sxx), and one more pair at v makes the bracket

        f(v) = 1/(n+1) + (u* - ubar')^2 / Sxx',   ubar' = (n ubar + v) / (n+1),
                                                 Sxx' = Sxx + n/(n+1) (v - ubar)^2,

    so the value is the f-minimizer among CANDIDATES spread over the range and the
    crossing's estimate: near the estimate when the slope is well measured, towards an
    end when it is not. The crossing is read along the curve's variable: a range factor
    itself, or N through dataset_fraction (N is proportional to the fraction). At most
    MAX_PLACED per factor.
    """
    estimate = curve["crossing"]["value"]
    if estimate is None or not math.isfinite(estimate) or (curve["log"] and estimate <= 0):
        return None
    factor, per = curve["variable"], 1.0  # per: the variable's units per unit of the factor
    if factor == "n_train_samples" and "dataset_fraction" in space.ranges:
        factor, per = "dataset_fraction", _samples_per_fraction(space)
    span = space.ranges.get(factor)
    if span is None or per is None or sum(PLACED in e["reason"] and e["factor"] == factor
                                          for e in extensions) >= MAX_PLACED:
        return None
    spread = FactorRange(low=span.low, high=span.high, log=span.log, points=CANDIDATES).values()
    options = {v for x in spread + [estimate / per] if (v := space.in_range(factor, x)) is not None}
    scored = [(_bracket_after(curve, v * per, estimate), v) for v in sorted(options)]
    scored = [(f, v) for f, v in scored if f is not None]
    if not scored:
        return None
    value = min(scored)[1]
    if any(_near(span, value, v) for v in space.values(factor)):
        return None
    why = (f"added {factor} = {value:g} {PLACED} the effect crosses {curve['text'].split('crosses ')[-1]}"
           f" (one more pair there narrows that most)")
    return factor, value, why


def _bracket_after(curve: dict, x: float, estimate: float) -> float | None:
    """f(v) of `placement`: the crossing's variance bracket after one more pair at x."""
    if curve["log"] and x <= 0:
        return None
    u = (lambda z: math.log(z)) if curve["log"] else float
    us = [u(p[0]) for p in curve["points"]]
    n, v, star = len(us), u(x), u(estimate)
    ubar = math.fsum(us) / n
    sxx = math.fsum((a - ubar) ** 2 for a in us) + n / (n + 1) * (v - ubar) ** 2
    return 1 / (n + 1) + (star - (n * ubar + v) / (n + 1)) ** 2 / sxx


def _samples_per_fraction(space) -> float | None:
    """N per unit of dataset_fraction, from any grid point whose N is known."""
    for point in space.points():
        known = space.expected_value(point, "n_train_samples")
        if known:
            return known / point["dataset_fraction"]
    return None


def _near(span, a: float, b: float) -> bool:
    if span.log:
        return max(a, b) / min(a, b) < 1.25
    return abs(a - b) < (span.high - span.low) / 10
