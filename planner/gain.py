"""Expected information gain of one more score, by preposterior simulation. Pure.

A prediction's remaining uncertainty is U = H(confidence) in bits while it is
undecided (or, if larger, how far its e-value is from the bound, 1 - ln E / ln
E_BOUND), 1 bit while untested, and 0 once decided. One more seed-paired score
y in a region is drawn from the current posterior predictive,

    y ~ t_nu(ybar_R, s sqrt(1 + 1/n_R))        (a region with data)
    y ~ t_nu(shift, 2 max(s, |shift|))          (an empty region: a wide guess)

and the gain is U - E_y[U'], where U' is the uncertainty the checker would report
with y added (its e-value guard included, so a replicate that would settle a
decision is worth more than one that only nudges the posterior). The expectation
is a midpoint rule over equal-mass quantiles of the predictive.
"""
from __future__ import annotations

import functools
import math

from scipy.stats import t as student_t

from parser import stats
from parser.checker import judge
from parser.evidence import Evidence

QUADRATURE = 10


@functools.lru_cache(maxsize=256)
def _unit_quantiles(df: float) -> tuple[float, ...]:
    return tuple(float(student_t.ppf((k + 0.5) / QUADRATURE, df)) for k in range(QUADRATURE))


def uncertainty(ev: Evidence) -> float:
    """Bits still open: the confidence's entropy, or the e-value's distance to its bound.

    A posterior at 0.99 whose e-value is still short of the bound is not decided;
    its entropy alone (0.08 bits) would make a replicate look worthless.
    """
    j = judge(ev)
    if j is None:
        return 1.0
    if j.status != "undecided":
        return 0.0
    short = 1.0 - math.log(max(j.evidence, 1.0)) / math.log(stats.E_BOUND)
    return max(stats.binary_entropy(j.confidence), min(max(short, 0.0), 1.0))


def predictive(ev: Evidence, second: bool) -> tuple[float, float, float]:
    """(centre, scale, df) of the next score in the first or second region."""
    scores = ev.second if second else ev.first
    s, df = ev.noise.scale, ev.noise.df
    if scores:
        return sum(scores) / len(scores), s * math.sqrt(1 + 1 / len(scores)), df
    other = ev.first if second else ev.second
    centre = sum(other) / len(other) if other else ev.shift
    return centre, 2 * max(s, abs(ev.shift)), df


def expected_gain(ev: Evidence, second: bool = False) -> float:
    """U(now) - E[U(after one more score in that region)], in bits per score.

    The guard needs a scale estimate before anything can be decided: two scores
    for a mean, three across both regions of a difference. Until then one score
    can't move U, so the score is valued as its share of the few it takes: the
    missing ones are filled at the predicted centre and the gain is divided by
    how many scores that took.
    """
    now = uncertainty(ev)
    if now == 0.0:
        return 0.0
    ev, steps = _fill(ev, second)
    centre, scale, df = predictive(ev, second)
    after = [uncertainty(ev.plus(centre + scale * q, second)) for q in _unit_quantiles(df)]
    return max(0.0, now - sum(after) / len(after)) / steps


def _fill(ev: Evidence, second: bool) -> tuple[Evidence, int]:
    steps = 1
    if ev.kind == "difference" and not (ev.first if second else ev.second):
        ev, steps = ev.plus(predictive(ev, not second)[0], not second), steps + 1
    needed = 3 if ev.kind == "difference" else 2
    while len(ev.first) + len(ev.second) + 1 < needed:
        ev, steps = ev.plus(predictive(ev, second)[0], second), steps + 1
    return ev, steps
