"""The effect as a line along a factor: its fit, its band, where it crosses a level (the
threshold: "stops mattering at N = ..."), and the common-slope line the checker reads a
declared range on (`along.py`). Pure functions, no I/O.

Model. Each pair measured at factor value x gives one score y (the checker's
`scoring.paired_score`, > 0 where the prediction holds). Along the factor the mean score
is linear in u = log x (or in x itself), with the seed noise sigma^2 the rest of the
checker uses:

    y_i ~ N(a + b (u_i - ubar), sigma^2),   p(a, b) flat,   p(sigma) ~ 1 / sigma   (Jeffreys)

    s^2 = RSS / (n - 2)                                 RSS: the line's residual sum of squares
    a | data ~ t_nu(ybar, s / sqrt(n)),  b | data ~ t_nu(b_hat, s / sqrt(Sxx)),  nu = n - 2

(with two points, nu = 0: the stand-in s0 worth one degree of freedom, as `stats.seed_noise`)

so one seed per value is enough (the residuals measure the noise, lack of fit included),
and the mean effect at any u0 is t_nu(a + b_hat (u0 - ubar), s sqrt(1/n + (u0 - ubar)^2 / Sxx)).

The crossing of a level c is u* = ubar + (c - ybar) / b_hat; its interval is Fieller's:
every u0 whose band contains c,

    (ybar - c + b_hat w)^2 <= q^2 s^2 (1/n + w^2 / Sxx),   w = u0 - ubar,  q = t_nu quantile,

a quadratic in w. It is a bounded interval exactly when the slope itself is told from
zero at that level (b_hat^2 > q^2 s^2 / Sxx); otherwise the crossing can't be bounded
and `crossing` says so rather than inventing ends.

Common slope (`CommonSlope`, `fit_common_slope`). The same line with one intercept per
stratum g (the other factors' levels) and one slope, all in u:

    y_i = a_g(i) + b u_i + e_i,   b_hat = Sxy / Sxx   (sums of products about each stratum's own means)
    RSS = sum_i (y_i - ybar_g - b_hat (u_i - ubar_g))^2,   r = n - G - 1,   s^2 = RSS / r
    b | data ~ t_r(b_hat, s / sqrt(Sxx))       (while r = 0: the stand-in scale, `stats.seed_noise`)

The fitted change over a span d of u, less a margin m, is d b - m | data ~ t_r(d b_hat - m,
|d| s / sqrt(Sxx)); its anytime-valid guard is the t e-value of the coefficient against the
shifted null b0 = m / d (Lindon, Ham, Tingley & Bojinov 2022, anytime-valid linear models;
Perez-Ortiz et al. 2024 for the t case): the statistic invariant to y -> c y + any intercepts
is b's t, noncentral with ncp = (b - b0) sqrt(Sxx) / sigma, so with the prior on the drop in
sigma units

    t = (d b_hat - m) / (|d| s_e / sqrt(Sxx)),   s_e^2 = RSS / r,   E = stats.t_evalue(t, Sxx / d^2, r, side)

which is `stats.two_sample_evalue` exactly when every point sits at one of two values
(tests/test_along.py).

Lack of fit (`lack_of_fit`). Where some cells (a stratum at one value of u) hold replicates,
the line's RSS splits into the pure error, the scatter of the scores about their own cell's
mean, and the lack of fit, the cell means' distance from the line (Draper & Smith, Applied
Regression Analysis, 2.1):

    SS_pe = sum_i (y_i - ybar_cell(i))^2,   df_pe = n - k         (k cells)
    SS_lof = RSS - SS_pe,                   df_lof = k - G - 1
    F = (SS_lof / df_lof) / (SS_pe / df_pe)  ~  F(df_lof, df_pe)   when the line holds

so p = P(F(df_lof, df_pe) >= F) is exact under the model's normal noise, whatever the slope
and intercepts. It needs a replicate somewhere (df_pe >= 1) and a third value in a stratum
(df_lof >= 1): with one seed per value there is no pure error and no test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Sequence

from scipy.special import fdtrc, stdtrit

from parser.checker import stats
from parser.checker.stats import MIN_SCALE, PRIOR_DF, Posterior

MIN_VALUES = 3  # distinct values before a line is read: two give a line but no view of its shape


@dataclass(frozen=True)
class Crossing:
    """Where the effect crosses a level: the estimate and its interval, in factor units.
    low/high None: unbounded on that side (the data can't place the crossing there)."""

    value: float | None  # None when the fitted line is flat
    low: float | None
    high: float | None
    mass: float

    @property
    def bounded(self) -> bool:
        return self.low is not None and self.high is not None


@dataclass(frozen=True)
class Trend:
    """The fitted line: mean score = ybar + slope (u - ubar), u = log x when `log`."""

    ybar: float
    slope: float
    ubar: float
    sxx: float
    n: int
    scale: float  # s
    df: float  # nu
    log: bool

    def _u(self, x: float) -> float:
        return math.log(x) if self.log else x

    def _x(self, u: float) -> float:
        if not self.log:
            return u
        return math.exp(u) if u < 709 else math.inf  # a crossing far past the data

    def at(self, x: float) -> Posterior:
        """The mean effect (score units) at factor value x."""
        w = self._u(x) - self.ubar
        return Posterior(self.ybar + self.slope * w, self.scale * math.sqrt(1 / self.n + w * w / self.sxx), self.df)

    def slope_posterior(self) -> Posterior:
        """b | data: per unit of u (per e-fold of x when `log`)."""
        return Posterior(self.slope, self.scale / math.sqrt(self.sxx), self.df)

    def crossing(self, level: float = 0.0, mass: float = 0.9) -> Crossing:
        """Where the mean effect equals `level`, with Fieller's `mass` interval."""
        q = float(stdtrit(self.df, 0.5 + mass / 2))
        m, b, s2 = self.ybar - level, self.slope, self.scale ** 2
        value = None if b == 0 else self._x(self.ubar - m / b)
        a = b * b - q * q * s2 / self.sxx
        if a <= 0:  # the slope is not told from zero: no bounded interval
            return Crossing(value, None, None, mass)
        half_b, c = m * b, m * m - q * q * s2 / self.n
        root = math.sqrt(max(half_b * half_b - a * c, 0.0))
        w1, w2 = sorted(((-half_b - root) / a, (-half_b + root) / a))
        return Crossing(value, self._x(self.ubar + w1), self._x(self.ubar + w2), mass)


def fit(points: Sequence[tuple[float, float]], prior_scale: float, log: bool = True,
        prior_df: float = PRIOR_DF) -> Trend | None:
    """The line through (x, score) points; None without two distinct x values
    (or with x <= 0 on a log scale)."""
    if log and any(x <= 0 for x, _ in points):
        return None
    us = [math.log(x) if log else float(x) for x, _ in points]
    ys = [float(y) for _, y in points]
    n = len(points)
    if n < 2:
        return None
    ubar, ybar = math.fsum(us) / n, math.fsum(ys) / n
    sxx = math.fsum((u - ubar) ** 2 for u in us)
    if sxx <= 1e-12 * max(1.0, ubar * ubar):
        return None
    slope = math.fsum((u - ubar) * (y - ybar) for u, y in zip(us, ys)) / sxx
    rss = math.fsum((y - ybar - slope * (u - ubar)) ** 2 for u, y in zip(us, ys))
    if n > 2:
        df, scale = n - 2, math.sqrt(rss / (n - 2))
    else:
        df, scale = prior_df, prior_scale
    return Trend(ybar, slope, ubar, sxx, n, max(scale, MIN_SCALE), df, log)


@dataclass(frozen=True)
class CommonSlope:
    """The common-slope fit (module docstring): slope per unit of u, Sxx, and the residuals' sum of squares."""

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


def fit_common_slope(points: Sequence[tuple[float, float, Hashable]], prior_scale: float,
                     prior_df: float = stats.PRIOR_DF) -> CommonSlope | None:
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
    return CommonSlope(slope, sxx, len(points), len(strata), rss, values, prior_scale, prior_df)


@dataclass(frozen=True)
class LackOfFit:
    """The classic F test of the line against its cell means (module docstring)."""

    f: float
    df_lack: int
    df_pure: int
    p: float


def lack_of_fit(points: Sequence[tuple[float, float, Hashable]], line: CommonSlope) -> LackOfFit | None:
    """The lack-of-fit F test of `line`, fitted to the (u, score, stratum) points; None
    without pure error or without a degree of freedom for the lack of fit."""
    cells: dict[tuple, list[float]] = {}
    for u, y, g in points:
        cells.setdefault((g, round(u, 12)), []).append(y)
    df_pure, df_lack = line.n - len(cells), len(cells) - line.groups - 1
    if df_pure < 1 or df_lack < 1:
        return None
    pure = math.fsum(math.fsum((y - math.fsum(ys) / len(ys)) ** 2 for y in ys) for ys in cells.values())
    lack = max(line.rss - pure, 0.0)
    if pure <= 0:  # replicates identical to the last digit: any bend is plain, none is no evidence
        return LackOfFit(math.inf if lack > 0 else 0.0, df_lack, df_pure, 0.0 if lack > 0 else 1.0)
    f = (lack / df_lack) / (pure / df_pure)
    return LackOfFit(f, df_lack, df_pure, float(fdtrc(df_lack, df_pure, f)))
