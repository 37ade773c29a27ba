"""Verdicts along a declared range: the effect read on a line, its seed noise from the line's residuals.

A factor declared as a range (`parser/ranges.py`) may be run at many distinct values with one
seed-pair each, which leaves no replicate inside a design cell for `stats.seed_noise` to
measure the seed noise from (the prior alone would speak). For a prediction conditioned on
such a variable (the range factor itself, or n_train_samples when dataset_fraction is the
range; u = log x on a log range, x on a linear one) whose pairs span at least
`trend.MIN_VALUES` distinct values, the checker reads the paired scores on a line
(`trend.fit_common_slope`: one intercept per stratum, the design cell without the range
factor, and one common slope).

Noise. The line's RSS is exactly the replicate pooling's within-cell sum of squares plus the lack of fit
of the cell means from the line (n - k and k - G - 1 degrees of freedom for k cells), so
replicates, where a design has them, count as they always did, and where it has none the
line's residuals measure the noise alone. Lack of fit only inflates s: a curved truth is judged
more cautiously, never less. A comparison conditioned on the variable keeps its region mean
(`stats.region_mean`) with this noise; its guard reads its own scores, as before.

Interaction. "Effect diminishes at N > 5000" is the fitted effect's change between the
centroids (in u) of the two parts of the declared range that the condition splits it into
(the reference part also inside the comparison's own condition when that is on the same
variable): c_main, c_versus, d = c_main - c_versus and drop = b d, against the margin m,
guarded by the line's e-value (`trend.CommonSlope.contrast`, `.evalue`). The span comes from
the declared range, so it does not move with where the runs went. Ville's bound is shown for
a design fixed in advance; the planner picks the next value from past scores, which the cited
results do not cover in so many words (bench/curve_verdicts.py measures fixed designs too).
Before a comparison spans `trend.MIN_VALUES` values the checker reads regions; when it switches
depends on the design alone, not on the scores.

Fallback. Where replicates allow it, the line is first tested against its cell means
(`trend.lack_of_fit`, the classic F test, at STRAIGHT_LEVEL). When it rejects, the effect
is plainly not a straight line along the range (a step, a V), the line's drop and noise
answer a question about a line the data do not follow, and the prediction is read by regions
instead, as a list factor's condition is (the runs in the condition's region against the
rest), and its verdict says so (`RangeLine.text`). The test is exact, so on a straight truth
it sends a read to the regions STRAIGHT_LEVEL of the time; the regions' own guard still
decides, so a fallback costs pairs, not validity of that read.

The level guards the switch. The checker reads after every pair and each read may switch, so
what adds to the decisions' error is the chance that a straight line is sent to the regions at
some look, not at one: the regions answer another question there (on a line at the line's
margin, a 5-point grid's region means differ by 1.5 margins), so a switch is a second chance
to decide, and P(false) <= P(the line's e-value ever passes E_BOUND) + P(ever switched). At 1%
per look 7-11% of straight lines switch within 45 pairs (bench/curve_verdicts.py, 5-point
grid), which added 0.1-0.6 points of false decisions (--paired, the same draws read both ways);
at 0.1% the added share is 0.0-0.1 points, while a plain V or step with replicates still falls
back (bench/curves.py --lack-of-fit at noise 0.03; a faint one at 0.10 less often). Twice the e-value bound for a
read by regions with a rejection required to hold before the latest pair too left half the
excess at 1% and cost a third of the V's rescue (docs/confidence.md). Pure functions, no I/O.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Hashable, Sequence

from parser.checker import stats, trend
from parser.ranges import FactorRange
from parser.schema import Condition

SAME_SCALE = 0.05  # N per unit of dataset_fraction may differ by rounding, not by more
STRAIGHT_LEVEL = 0.001  # the lack-of-fit test's level, per look: below it the regions are read (module docstring)


@dataclass(frozen=True)
class Scope:
    """A condition variable read on a declared range: u = log x (log range) or x."""

    variable: str  # as the condition names it
    factor: str  # the declared range: the variable itself, or dataset_fraction for N
    log: bool
    low: float  # the range's ends in the variable's own units
    high: float

    def u(self, x: float) -> float:
        return math.log(x) if self.log else float(x)

    def x(self, u: float) -> float:
        return math.exp(u) if self.log else u

    def ok(self, x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and \
            (x > 0 or not self.log)

    def part(self, condition: Condition) -> tuple[float, float] | None:
        """The part of the range (in u) where an inequality holds; None for == or a text value."""
        if condition.op == "==" or isinstance(condition.value, str):
            return None
        lo, hi, v = self.u(self.low), self.u(self.high), condition.value
        if self.log and v <= 0:
            return (lo, hi) if condition.op in (">", ">=") else (lo, lo)
        cut = min(max(self.u(v), lo), hi)
        return (lo, cut) if condition.op in ("<", "<=") else (cut, hi)


def scope(variable: str, ranges: dict[str, FactorRange], xs_fractions: Sequence[tuple[float, float]]) -> Scope | None:
    """`variable` on its declared range, or None (a list factor, or N not one number times the fraction).

    xs_fractions: (N, dataset_fraction) of the pairs so far, to carry the fraction's range to N."""
    span = ranges.get(variable)
    if span is not None:
        return Scope(variable, variable, span.log, span.low, span.high)
    span = ranges.get("dataset_fraction")
    if variable != "n_train_samples" or span is None:
        return None
    per = [n / f for n, f in xs_fractions if n and f]
    if not per or max(per) > (1 + SAME_SCALE) * min(per):
        return None
    k = statistics.median(per)
    return Scope(variable, "dataset_fraction", span.log, span.low * k, span.high * k)


def span(where: Scope, condition: Condition, reference: Condition | None) -> tuple[float, float] | None:
    """(c_main, c_versus): the centroids of the range's part outside `condition` (inside
    `reference` too, when that reads the same variable) and of its part inside; None when
    either part is empty or the condition is not an inequality."""
    there = where.part(condition)
    if there is None:
        return None
    lo, hi = where.u(where.low), where.u(where.high)
    here = (there[1], hi) if there[0] <= lo else (lo, there[0])
    if reference is not None and reference.variable == condition.variable:
        limit = where.part(reference)
        if limit is None:
            return None
        here = (max(here[0], limit[0]), min(here[1], limit[1]))
    if not (here[1] - here[0] > 1e-12 and there[1] - there[0] > 1e-12):
        return None
    return (here[0] + here[1]) / 2, (there[0] + there[1]) / 2


@dataclass(frozen=True)
class RangeLine:
    """Scores read on a line along a declared range. For an interaction, `centroids` holds
    (c_main, c_versus) and `next_at` where the planner's what-if adds a score in each region
    (the region's mean u so far, the stratum of its latest pair)."""

    where: Scope
    points: tuple[tuple[float, float, Hashable], ...]  # (u, score, stratum)
    prior: float
    centroids: tuple[float, float] | None = None
    next_at: tuple[tuple[float, Hashable], tuple[float, Hashable]] | None = None
    ids: tuple[str, ...] = field(default=(), compare=False)

    @cached_property
    def fitted(self) -> trend.CommonSlope | None:
        return trend.fit_common_slope(self.points, self.prior)

    @cached_property
    def lack_of_fit(self) -> trend.LackOfFit | None:
        """The line against its cell means; None where the design has no replicates (or no third value)."""
        return trend.lack_of_fit(self.points, self.fitted) if self.fitted else None

    @property
    def straight(self) -> bool:
        """Whether the verdict may read the line: no lack of fit shown at STRAIGHT_LEVEL."""
        return self.lack_of_fit is None or self.lack_of_fit.p >= STRAIGHT_LEVEL

    @property
    def d(self) -> float:
        return self.centroids[0] - self.centroids[1]

    def contrast(self, m: float) -> stats.Posterior:
        return self.fitted.contrast(self.d, m)

    def evalue(self, m: float, side: int) -> float:
        return self.fitted.evalue(self.d, m, side)

    def plus(self, y: float, versus: bool) -> "RangeLine":
        """One more score (unshifted) where the planner's next pair in that region would go."""
        u, g = self.next_at[1 if versus else 0]
        return replace(self, points=self.points + ((u, y, g),))

    def text(self) -> str:
        """How the verdict was read, for a reader of the report."""
        w, line = self.where, self.fitted
        if not self.straight:
            return f"not a straight line along {w.factor} (lack of fit p {p_text(self.lack_of_fit.p)}): read by regions"
        scale = f"log {_short(w.variable)}" if w.log else _short(w.variable)
        through = f"a line in {scale} through {line.n} pairs at {line.values} values"
        if w.factor != w.variable:
            through += f" ({w.variable} through {w.factor})"
        if self.centroids is None:
            return f"seed noise from the residuals of {through}, along {w.factor}"
        a, b = (w.x(c) for c in self.centroids)
        return (f"judged on the curve along {w.factor}: {through}; the drop is the line's change "
                f"from {_short(w.variable)} ≈ {_num(a)} to {_num(b)} (the centroids of the range's two parts)")


def p_text(p: float) -> str:
    """'= 0.003', or '< 0.0001': a p-value as a sentence shows it."""
    return "< 0.0001" if p < 1e-4 else f"= {p:.2g}"


def _short(name: str) -> str:
    return "N" if name == "n_train_samples" else name


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
