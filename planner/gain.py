"""Expected information gain of one more score, by preposterior simulation. Pure.

A prediction's remaining uncertainty is U = H(confidence) in bits while it is
undecided, 1 bit while untested, and 0 once decided. One more seed-paired score
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
    j = judge(ev)
    if j is None:
        return 1.0
    return 0.0 if j.status != "undecided" else stats.binary_entropy(j.confidence)


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
    """U(now) - E[U(after one more score in that region)], in bits.

    A difference with the other region still empty can't move on one score; it is
    valued as half of what this score plus one at the other region's predicted
    centre would do (it takes two pairs).
    """
    now = uncertainty(ev)
    if now == 0.0:
        return 0.0
    centre, scale, df = predictive(ev, second)
    other = ev.first if second else ev.second
    lookahead = ev.kind == "difference" and not other
    if lookahead:
        ev = ev.plus(predictive(ev, not second)[0], not second)
    after = [uncertainty(ev.plus(centre + scale * q, second)) for q in _unit_quantiles(df)]
    gain = max(0.0, now - sum(after) / len(after))
    return gain / 2 if lookahead else gain
