"""Expected information gain of one more score, by preposterior simulation. Pure.

A prediction's remaining uncertainty is U = H(confidence) in bits while it is
undecided (plus MISSING_BITS per cell still to open while a level of its region has no pair) (or, if larger, how far its e-value is from the bound, 1 - ln E / ln
E_BOUND, and never under OPEN_FLOOR), 1 bit while untested, and 0 once decided. One more seed-paired score
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

from scipy.special import ndtri, stdtrit

from parser.checker import stats
from parser.checker.verdicts import judge
from parser.checker.evidence import Evidence, covered

QUADRATURE = 10
OPEN_FLOOR = 0.25  # bits an undecided prediction is worth at the least
MISSING_BITS = 0.05  # bits each cell still to open adds while a level of the region has no pair


@functools.lru_cache(maxsize=256)
def _unit_quantiles(df: float) -> tuple[float, ...]:
    return tuple(float(stdtrit(df, (k + 0.5) / QUADRATURE)) for k in range(QUADRATURE))  # t.ppf


def uncertainty(ev: Evidence) -> float:
    """Bits still open: the confidence's entropy, or the e-value's distance to its bound.

    A posterior at 0.99 whose e-value is still short of the bound is not decided;
    its entropy alone (0.08 bits) would make a replicate look worthless. Nor is one
    whose e-value is just short of it: an undecided prediction keeps at least
    `OPEN_FLOOR` bits, the worth of the verdict still to come, so the planner
    finishes what one or two more pairs would decide instead of stopping there. While a
    level of its region has no pair (`Evidence.missing`) nothing can be decided: it is worth
    1 bit plus MISSING_BITS for each cell still to open, so a replicate of a cell it has is
    worth nothing to it, and a pair that opens a level is worth what the verdict reads once
    every level is open (`expected_gain`).
    """
    if ev.missing:  # nothing is decided before every level is seen: only opening one moves it
        return 1.0 + MISSING_BITS * ev.to_open
    j = judge(ev)
    if j is None:
        return 1.0
    if j.status != "undecided":
        return 0.0
    short = 1.0 - math.log(max(j.evidence, 1.0)) / math.log(stats.E_BOUND)
    return max(stats.binary_entropy(j.confidence), min(max(short, 0.0), 1.0), OPEN_FLOOR)


def predictive(ev: Evidence, versus: bool) -> tuple[float, float, float]:
    """(centre, scale, df) of the next score in the main region, or the versus region."""
    scores = ev.versus if versus else ev.scores
    s, df = ev.noise.scale, ev.noise.df
    if scores:
        return sum(scores) / len(scores), s * math.sqrt(1 + 1 / len(scores)), df
    other = ev.scores if versus else ev.versus
    centre = sum(other) / len(other) if other else ev.shift
    return centre, 2 * max(s, abs(ev.shift)), df


LOOKAHEAD = (1, 2, 4, 8)  # batch sizes considered: the best gain per score wins


@functools.lru_cache(maxsize=16)
def _spread(m: int) -> tuple[float, ...]:
    """m fixed deviations with mean 0 and sample sd 1: how m new scores scatter."""
    if m == 1:
        return (0.0,)
    z = [float(ndtri((j + 0.5) / m)) for j in range(m)]  # norm.ppf
    sd = math.sqrt(sum(v * v for v in z) / (m - 1))
    return tuple(v / sd for v in z)


def expected_gain(ev: Evidence, versus: bool = False, cell: tuple | None = None) -> float:
    """The most U is expected to fall per added score in that region, in bits: a replicate of
    its latest cell, or the first scores of `cell`, a cell at declared levels the region has no
    score at yet (`Evidence.missing`: until each has one, no verdict on the region is decided).

    One score at a time is myopic: a verdict five replicates from decided gains
    almost nothing from the next one alone. So the gain of m = 1, 2, 4, 8 more
    scores is simulated (their mean from the predictive of a mean of m, their
    scatter at the pooled noise) and the best gain per score is returned.

    The guard needs a scale estimate before anything can be decided: two scores
    for a mean, three across both regions of a difference. Until then the missing
    ones are filled at the predicted centre and counted as scores spent.
    """
    now = uncertainty(ev)
    if now == 0.0:
        return 0.0
    filled, fills = _fill(ev, versus)
    if cell is not None:  # the other levels still to open, at the predicted centre: the plan's cost
        filled, opened = _open_the_rest(filled, covered(filled.missing, "versus" if versus else "main", cell))
        fills += opened
    return max(_gain(filled, versus, m, now, cell) / (fills + m) for m in LOOKAHEAD)


def _open_the_rest(ev: Evidence, skip: frozenset) -> tuple[Evidence, int]:
    """The evidence with a score at the predicted centre in a cell for each missing level but
    those of `skip` (which the candidate opens): per region, as few cells as hold them all (one
    level of each factor a cell), and how many."""
    opened = 0
    for where in ("main", "versus"):
        levels: dict[str, list] = {}
        for r, name, value in sorted(ev.missing - skip, key=repr):
            if r == where:
                levels.setdefault(name, []).append(value)
        for i in range(max((len(v) for v in levels.values()), default=0)):
            cell = tuple(sorted((name, vs[i]) for name, vs in levels.items() if i < len(vs)))
            ev, opened = ev.plus(predictive(ev, where == "versus")[0], where == "versus", cell), opened + 1
    return ev, opened


def _gain(ev: Evidence, versus: bool, m: int, now: float, cell: tuple | None = None) -> float:
    centre, _, df = predictive(ev, versus)
    scores = ev.versus if versus else ev.scores
    s = ev.noise.scale
    scale = s * math.sqrt(1 / m + 1 / len(scores)) if scores else predictive(ev, versus)[1]
    after = []
    for q in _unit_quantiles(df):
        mean = centre + scale * q
        new = ev
        for k, d in enumerate(_spread(m)):
            new = new.plus(mean + s * d, versus, cell if k == 0 else None)
        after.append(uncertainty(new))
    return max(0.0, now - sum(after) / len(after))


def _fill(ev: Evidence, versus: bool) -> tuple[Evidence, int]:
    fills = 0
    if ev.kind == "difference" and not (ev.scores if versus else ev.versus):
        ev, fills = ev.plus(predictive(ev, not versus)[0], not versus), fills + 1
    needed = 3 if ev.kind == "difference" else 2
    while len(ev.scores) + len(ev.versus) + 1 < needed:
        ev, fills = ev.plus(predictive(ev, versus)[0], versus), fills + 1
    return ev, fills
