"""Verdicts along a declared range: the effect as a line, its seed noise from the line's residuals.

A factor declared as a range (`parser/ranges.py`) may be run at many distinct values with one
seed-pair each, which leaves no replicate inside a design cell for `stats.seed_noise` to
measure the seed noise from (the prior alone would speak). For a prediction conditioned on
such a variable (the range factor itself, or n_train_samples when dataset_fraction is the
range; u = log x on a log range, x on a linear one) whose pairs span at least MIN_VALUES
distinct values, the checker reads the paired scores on a line, as `trend.fit` does, with one
intercept per stratum g (the design cell without the range factor: the other factors' levels)
and one common slope:

    y_i = a_g(i) + b u_i + e_i,   e_i ~ N(0, sigma^2),   p(a, b) flat,   p(sigma) ~ 1 / sigma

    b_hat = Sxy / Sxx                   (sums of products about each stratum's own means)
    RSS = sum_i (y_i - ybar_g - b_hat (u_i - ubar_g))^2,   r = n - G - 1
    s^2 = RSS / r,   b | data ~ t_r(b_hat, s / sqrt(Sxx))

(while r = 0, the stand-in scale s0 with one degree of freedom: `stats.seed_noise`)

Noise. RSS is exactly the replicate pooling's within-cell sum of squares plus the lack of fit
of the cell means from the line (n - k and k - G - 1 degrees of freedom for k cells), so
replicates, where a design has them, count as they always did, and where it has none the
line's residuals measure the noise alone. Lack of fit only inflates s: a curved truth is judged
more cautiously, never less. A comparison conditioned on the variable keeps its region mean
(`stats.region_mean`) with this noise; its guard reads its own scores, as before.

Interaction. "Effect diminishes at N > 5000" is the fitted effect's change between the
centroids (in u) of the two parts of the declared range that the condition splits it into
(the reference part also inside the comparison's own condition when that is on the same
variable): c_main, c_versus, d = c_main - c_versus and drop = b d. The span comes from the
declared range, so it does not move with where the runs went. Against the margin m:

    drop - m | data ~ t_r(d b_hat - m, |d| s / sqrt(Sxx))

guarded by the t e-value of the coefficient against the shifted null b0 = m / d (Lindon, Ham,
Tingley & Bojinov 2022, anytime-valid linear models; Perez-Ortiz et al. 2024 for the t case):
the statistic invariant to y -> c y + any intercepts is b's t, noncentral with
ncp = (b - b0) sqrt(Sxx) / sigma, so with the prior on the drop in sigma units

    t = (d b_hat - m) / (|d| s_e / sqrt(Sxx)),   s_e^2 = RSS / r,   E = stats.t_evalue(t, Sxx / d^2, r, side)

which is `stats.two_sample_evalue` exactly when every point sits at one of the two centroids
(tests/test_along.py). Ville's bound is shown there for a design fixed in advance; the
planner picks the next value from past scores, which the cited results do not cover in so
many words (bench/curve_verdicts.py measures fixed designs too). Before a comparison spans
MIN_VALUES values the checker reads regions; when it switches depends on the design alone,
not on the scores. Pure functions, no I/O.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Hashable, Sequence

from parser.checker import stats
from parser.ranges import FactorRange
from parser.schema import Condition

MIN_VALUES = 3  # distinct values before the line is read: two give a line but no view of its shape
SAME_SCALE = 0.05  # N per unit of dataset_fraction may differ by rounding, not by more


@dataclass(frozen=True)
class Line:
    """The common-slope fit: slope per unit of u, Sxx, and the residuals' sum of squares."""

    slope: float
    sxx: float
    n: int
    groups: int
    rss: float
    values: int  # distinct u values
    prior_scale: float
    prior_df: float = stats.PRIOR_DF

    @property
    def resid_df(self) -> int:
        return self.n - self.groups - 1

    @property
    def noise(self) -> stats.Pooled:
        """s and nu from the residuals alone (Jeffreys); the stand-in `prior_scale`, worth
        `prior_df`, only while there are no residual degrees of freedom."""
        r = self.resid_df
        if r < 1:
            return stats.Pooled(max(self.prior_scale, stats.MIN_SCALE), self.prior_df)
        return stats.Pooled(max(math.sqrt(self.rss / r), stats.MIN_SCALE), float(r))

    def sample_sd(self) -> float | None:
        """s_e, the residuals' own scale (what the guard sees); None without residual df."""
        r = self.resid_df
        return math.sqrt(self.rss / r) if r >= 1 and self.rss > 0 else None

    def contrast(self, d: float, m: float) -> stats.Posterior:
        """d b - m: the fitted effect's change over a span d of u, less m."""
        s = self.noise
        return stats.Posterior(d * self.slope - m, abs(d) * s.scale / math.sqrt(self.sxx), s.df)

    def evalue(self, d: float, m: float, side: int) -> float:
        """Anytime-valid evidence that d b - m is on `side` of zero (module docstring)."""
        r, est = self.resid_df, d * self.slope - m
        if r < 1:
            return 1.0
        if self.rss <= 0:
            return 1.0 if est == 0 or (est > 0) != (side > 0) else math.inf
        t = est / (abs(d) * math.sqrt(self.rss / r / self.sxx))
        return stats.t_evalue(t, self.sxx / (d * d), r, side)


def fit(points: Sequence[tuple[float, float, Hashable]], prior_scale: float,
        prior_df: float = stats.PRIOR_DF) -> Line | None:
    """The line through (u, score, stratum) points; None when u does not vary inside any stratum."""
    strata: dict[Hashable, list[tuple[float, float]]] = {}
    for u, y, g in points:
        strata.setdefault(g, []).append((u, y))
    centred = []
    for pts in strata.values():
        ub = math.fsum(u for u, _ in pts) / len(pts)
        yb = math.fsum(y for _, y in pts) / len(pts)
        centred += [(u - ub, y - yb) for u, y in pts]
    sxx = math.fsum(du * du for du, _ in centred)
    scale = max((abs(u) for u, _, _ in points), default=1.0)
    if sxx <= 1e-12 * max(1.0, scale * scale):
        return None
    slope = math.fsum(du * dy for du, dy in centred) / sxx
    rss = math.fsum((dy - slope * du) ** 2 for du, dy in centred)
    values = len({round(u, 12) for u, _, _ in points})
    return Line(slope, sxx, len(points), len(strata), rss, values, prior_scale, prior_df)


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
class Along:
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
    def line(self) -> Line | None:
        return fit(self.points, self.prior)

    @property
    def d(self) -> float:
        return self.centroids[0] - self.centroids[1]

    def contrast(self, m: float) -> stats.Posterior:
        return self.line.contrast(self.d, m)

    def evalue(self, m: float, side: int) -> float:
        return self.line.evalue(self.d, m, side)

    def plus(self, y: float, versus: bool) -> "Along":
        """One more score (unshifted) where the planner's next pair in that region would go."""
        u, g = self.next_at[1 if versus else 0]
        return replace(self, points=self.points + ((u, y, g),))

    def text(self) -> str:
        """How the verdict was read, for a reader of the report."""
        w, line = self.where, self.line
        scale = f"log {_short(w.variable)}" if w.log else _short(w.variable)
        through = f"a line in {scale} through {line.n} pairs at {line.values} values"
        if w.factor != w.variable:
            through += f" ({w.variable} through {w.factor})"
        if self.centroids is None:
            return f"seed noise from the residuals of {through}, along {w.factor}"
        a, b = (w.x(c) for c in self.centroids)
        return (f"judged on the curve along {w.factor}: {through}; the drop is the line's change "
                f"from {_short(w.variable)} ≈ {_num(a)} to {_num(b)} (the centroids of the range's two parts)")


def _short(name: str) -> str:
    return "N" if name == "n_train_samples" else name


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
