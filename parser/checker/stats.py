"""Pure statistics for prediction confidence. Numbers in, numbers out; no I/O.

Model. Each seed-paired run gives one score y (`scoring.paired_score`), signed so
the prediction holds when the mean score is positive. Scores are Normal around
their design cell's mean, with a seed-noise variance sigma^2 shared by the cells:

    y_ci ~ N(mu_c, sigma^2),   p(mu_c) flat,   p(sigma) ~ 1 / sigma   (Jeffreys: no scale guessed)

A prediction is about the mean over the K cells it has, each cell weighing the same
(as the balanced grid a researcher would walk): mu_R = (1/K) sum_c mu_c. Then

    s^2 = SS / nu,   SS = sum_c sum_i (y_ci - ybar_c)^2,   nu = n - K = sum_c (n_c - 1)
    mu_R | data ~ t_nu(ybar_R, s sqrt(v)),   ybar_R = (1/K) sum_c ybar_c,   v = sum_c (1/n_c) / K^2

(cells holding a single score share one mean in SS and nu: `residuals`), which is the
paired Student t of DESIGN.md section 4 when there is one cell, at any scale of noise
(0.1% or 30%: `seed_noise`). Only while there is a single score (nu = 0) does a stand-in
scale speak, worth one degree of freedom: one learned from the study (`evidence.py`: the
comparison's other cells, else the spread between single pairs), the fixed guess only
before anything else is known.

The guard (`stratified_evalue`) reads the same model: the t statistic of the same
ybar_R / (s sqrt(v)), with the same nu, so a posterior settled by the within-cell
noise is not held back by a guard that counts the gap between cells as noise. (The
general conjugate pooling, `pooled_noise`, is kept for the benches that use it.)
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy.special import ndtri, stdtr, stdtrit

PRIOR_DF = 1.0  # nu0: a stand-in scale is worth one degree of freedom, and speaks only without replicates
PRIOR_LOG_SCALE = 0.1  # the fixed guess for log-ratios: a 10% spread, before anything is known
PRIOR_ABS_FRACTION = 0.05  # the fixed guess for absolute differences: 5% of the metric's magnitude
MIN_SCALE = 1e-12  # s never reaches 0: identical replicates give a point, not a division by zero


@dataclass(frozen=True)
class Pooled:
    scale: float  # s, the posterior seed-noise scale
    df: float  # nu


@dataclass(frozen=True)
class Posterior:
    mean: float
    se: float
    df: float

    def prob_positive(self) -> float:
        """P(mu > 0 | data) = F_t(mean / se; nu)."""
        return float(stdtr(self.df, self.mean / self.se))

    def prob_between(self, lo: float, hi: float) -> float:
        """P(lo < mu < hi | data) = F_t((hi - mean)/se) - F_t((lo - mean)/se)."""
        return float(stdtr(self.df, (hi - self.mean) / self.se) - stdtr(self.df, (lo - self.mean) / self.se))

    def interval(self, mass: float = 0.9) -> tuple[float, float]:
        half = float(stdtrit(self.df, 0.5 + mass / 2)) * self.se
        return self.mean - half, self.mean + half


@dataclass
class Moments:
    """Count, mean and sum of squared deviations of one cell's scores, updated one at a time
    (Welford's method: stable, and a cell never needs its scores again)."""

    n: int = 0
    mean: float = 0.0
    ss: float = 0.0

    def add(self, y: float) -> None:
        self.n += 1
        d = y - self.mean
        self.mean += d / self.n
        self.ss += d * (y - self.mean)


def pooled_noise(cells: Sequence[Sequence[float]], prior_scale: float,
                 prior_df: float = PRIOR_DF) -> Pooled:
    """s^2 = (nu0 s0^2 + SS_within) / (nu0 + sum(n_c - 1)); cells with one pair add nothing."""
    moments = []
    for ys in cells:
        m = sum(ys) / len(ys) if ys else 0.0
        moments.append(Moments(len(ys), m, sum((y - m) ** 2 for y in ys)))
    return pooled_moments(moments, prior_scale, prior_df)


def pooled_moments(cells: Iterable[Moments], prior_scale: float, prior_df: float = PRIOR_DF) -> Pooled:
    """`pooled_noise` from each cell's moments."""
    ss, df = prior_df * prior_scale ** 2, prior_df
    for c in cells:
        if c.n > 1:
            ss += c.ss
            df += c.n - 1
    return Pooled(math.sqrt(ss / df), df)


def residuals(cells: Iterable[Moments]) -> tuple[float, int]:
    """(SS, df) of the seed noise in cells: each replicated cell about its own mean, and the
    cells holding a single score about the mean of those singles,

        SS = sum_{n_c > 1} SS_c + sum_{n_c = 1} (y_c - ybar_1)^2,   df = sum_{n_c > 1} (n_c - 1) + max(m - 1, 0)

    for m single-score cells. A cell with a replicate has a mean of its own, so the gap
    between such cells is not noise; single cells cannot show their own mean, and their
    spread, real gaps included, stands for the noise (too wide, never too narrow)."""
    ss, df, singles = 0.0, 0, []
    for c in cells:
        if c.n > 1:
            ss += c.ss
            df += c.n - 1
        elif c.n == 1:
            singles.append(c.mean)
    if len(singles) > 1:
        m = math.fsum(singles) / len(singles)
        ss += math.fsum((y - m) ** 2 for y in singles)
        df += len(singles) - 1
    return ss, df


def seed_noise(cells: Iterable[Moments], stand_in: float) -> Pooled:
    """The seed noise of cells under the Jeffreys prior p(sigma) ~ 1/sigma, (SS, df) = `residuals`:

        s^2 = SS / nu,   nu = df                       when df >= 1
        s = stand_in,    nu = PRIOR_DF (one df)        when there is one score (df = 0)

    No guess enters once there are two scores: the data alone set the scale, at 0.1% as
    at 30%. The stand-in only keeps a first pair's posterior usable (and wide)."""
    ss, df = residuals(cells)
    if df < 1:
        return Pooled(max(stand_in, MIN_SCALE), PRIOR_DF)
    return Pooled(max(math.sqrt(ss / df), MIN_SCALE), float(df))


def spread(values: Sequence[float]) -> float | None:
    """The sample sd of values (None with fewer than two, or none spread at all)."""
    if len(values) < 2:
        return None
    m = math.fsum(values) / len(values)
    ss = math.fsum((v - m) ** 2 for v in values)
    return math.sqrt(ss / (len(values) - 1)) if ss > 0 else None


@dataclass(frozen=True)
class Strata:
    """Scores by design cell: n scores in k cells, the equal-weight mean of the cell means,
    its variance factor v = sum_c (1/n_c) / k^2 (the mean's variance is sigma^2 v), and
    the seed noise's SS and df as `residuals` reads them."""

    n: int
    k: int
    mean: float
    v: float
    ss: float
    df: int

    def minus(self, other: "Strata") -> "Strata":
        """The difference of two regions' means, their residuals pooled: v_A + v_B, df_A + df_B."""
        return Strata(self.n + other.n, self.k + other.k, self.mean - other.mean, self.v + other.v,
                      self.ss + other.ss, self.df + other.df)

    def sd(self) -> float | None:
        """The residuals' own scale (what the guard sees); None without df."""
        return math.sqrt(self.ss / self.df) if self.df >= 1 and self.ss > 0 else None


def strata(scores: Sequence[float], cells: Sequence | None = None) -> Strata:
    """Strata of `scores`, cells[i] naming score i's design cell (None or empty: one cell)."""
    if not cells:
        m, ss = _mean_ss(scores)
        return Strata(len(scores), 1, m, 1 / len(scores), ss, len(scores) - 1)
    if len(scores) <= 16:
        found: dict = {}
        for y, c in zip(scores, cells):
            found.setdefault(c, Moments()).add(y)
        groups = list(found.values())
        k = len(groups)
        ss, df = residuals(groups)
        mean, v = math.fsum(m.mean for m in groups) / k, math.fsum(1 / m.n for m in groups) / (k * k)
        return Strata(len(scores), k, mean, v, ss, df)
    codes: dict = {}  # more scores: numpy
    index = np.fromiter((codes.setdefault(c, len(codes)) for c in cells), dtype=np.intp, count=len(scores))
    y = np.asarray(scores, dtype=float)
    counts = np.bincount(index)
    means = np.bincount(index, weights=y) / counts
    within = np.bincount(index, weights=np.square(y - means[index]))  # two passes: exact at any scale
    groups = [Moments(int(n), float(m), float(q)) for n, m, q in zip(counts, means, within)]
    k = len(groups)
    ss, df = residuals(groups)
    return Strata(len(scores), k, float(means.mean()), float(np.sum(1.0 / counts)) / (k * k), ss, df)


def stratified_mean(st: Strata, noise: Pooled) -> Posterior:
    """mu_R ~ t_nu(ybar_R, s sqrt(v)): the equal-weight mean of the cell means."""
    return Posterior(st.mean, noise.scale * math.sqrt(st.v), noise.df)


def stratified_difference(a: Strata, b: Strata, noise: Pooled) -> Posterior:
    """mu_A - mu_B ~ t_nu(ybar_A - ybar_B, s sqrt(v_A + v_B))."""
    return Posterior(a.mean - b.mean, noise.scale * math.sqrt(a.v + b.v), noise.df)


def stratified_evalue(st: Strata, side: int, shift: float = 0.0) -> float:
    """Anytime-valid evidence that the equal-weight mean of the cell means, plus `shift`, is on `side`.

    The linear model y_ci = mu_c + e_ci tested for one contrast, (1/K) sum_c mu_c, with the
    other contrasts of the cell means and sigma as nuisance: the statistic invariant to
    y -> a y + (any shift of the cell means that keeps that contrast) is its t,

        t = (ybar_R + shift) / (s sqrt(v)),   s^2 = SS / df   (`residuals`),

    noncentral t_df with ncp = delta / sqrt(v), delta its standardized value, so
    E = t_evalue(t, 1 / v, df, side) (Lindon, Ham, Tingley & Bojinov 2022; with one
    cell, or every cell a single, it is `one_sample_evalue`). The gap between replicated
    cells is not noise here: it is what their means absorb. Cells with a single score
    share one mean in the residuals, so their gaps count as noise (conservative), and a
    design with no replicate reads as the plain one-sample test. No evidence at df < 1."""
    df = st.df
    if df < 1:
        return 1.0
    est = st.mean + shift
    if st.ss <= 0:
        return 1.0 if est == 0 or (est > 0) != (side > 0) else math.inf
    return t_evalue(est / math.sqrt(st.ss / df * st.v), 1 / st.v, df, side)


def region_mean(scores: Sequence[float], noise: Pooled) -> Posterior:
    """mu_R ~ t_nu(mean(y), s / sqrt(n))."""
    n = len(scores)
    return Posterior(math.fsum(scores) / n, noise.scale / math.sqrt(n), noise.df)


def difference(a: Sequence[float], b: Sequence[float], noise: Pooled) -> Posterior:
    """mu_A - mu_B ~ t_nu(mean(a) - mean(b), s sqrt(1/n_A + 1/n_B))."""
    se = noise.scale * math.sqrt(1 / len(a) + 1 / len(b))
    return Posterior(math.fsum(a) / len(a) - math.fsum(b) / len(b), se, noise.df)


def binary_entropy(p: float) -> float:
    """H(p) in bits; 0 at certainty, 1 at p = 0.5."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


E_BOUND = 20.0  # decide only when the e-value passes 1/alpha, alpha = 0.05 per side
# The e-value's prior on the standardized effect delta = mu / sigma: an equal mixture of
# half-normals of these scales. Seed-paired noise in training is often small against
# the effects studied (delta of several units), where a half-normal(1) alone would
# need five or more pairs for an effect three pairs show plainly (tests/test_stats.py);
# against any one of its scales the mixture loses at most a factor of 5.
PRIOR_SCALES = (0.5, 1.0, 2.0, 4.0, 8.0)
_PRIOR_GRID = 16  # equal-mass points of each half-normal
LARGE_DF = 300  # past this, t_evalue's noncentral t density is the large-df form
_HALF_NORMAL = ndtri(0.5 + 0.5 * (np.arange(_PRIOR_GRID) + 0.5) / _PRIOR_GRID)  # norm.ppf


def _t_logpdf(t: float, df: float) -> float:
    """log f_df(t), Student's t density (scipy.stats.t.logpdf without its per-call overhead)."""
    return (math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
            - (df + 1) / 2 * math.log1p(t * t / df))


def _nct_logpdf_large_df(t: float, df: float, ncps: np.ndarray) -> np.ndarray:
    """log density of the noncentral t for many degrees of freedom, where scipy's overflows.

    T = (Z + ncp) / sqrt(V / df) is close to ncp + sqrt(1 + ncp^2 / (2 df)) T_df: a
    shifted, scaled central t, which is exactly the central t at ncp = 0, so the
    e-value's ratio stays consistent. Against the exact density it overstates an
    e-value by under 0.2% at 300 df (t from 1 to 10), less beyond.
    """
    v = 1 + ncps ** 2 / (2 * df)
    x = (t - ncps) / np.sqrt(v)
    return (math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
            - (df + 1) / 2 * np.log1p(x * x / df) - 0.5 * np.log(v))


def t_evalue(t: float, n_eff: float, df: float, side: int,
             scales: Sequence[float] = PRIOR_SCALES) -> float:
    """Anytime-valid evidence that the standardized mean is on `side` (+1 or -1) of zero.

    The scale-invariant Bayes factor of a t statistic (Lai 1976; Perez-Ortiz et al.
    2024: with the right-Haar prior on sigma it is an e-process under H0, so by
    Ville's inequality P(ever E >= 1/alpha) <= alpha however often one looks):

        E = integral f_df(t | ncp = delta sqrt(n_eff)) pi(delta) d delta / f_df(t | 0)

    with pi an equal mixture of half-normals (`scales`) on the alternative's side; any
    fixed prior keeps the guarantee, the choice only moves power. For the one-sided
    null (delta on the other side or 0) the likelihood ratio is largest at delta = 0,
    so the bound holds there too. The integral is a midpoint rule over equal-mass
    quantiles of each half-normal (within 1% of quadrature, tests/test_stats.py).
    No evidence without a scale estimate: df < 1 gives 1.
    """
    if df < 1 or not math.isfinite(t):
        return 1.0
    ncps = side * np.outer(scales, _HALF_NORMAL).ravel() * math.sqrt(n_eff)
    log_null = _t_logpdf(t, df)
    log_alt = _nct_logpdf_large_df(t, df, ncps)
    if df <= LARGE_DF:
        from scipy.stats import nct  # here: scipy.stats costs seconds to import, and most starts need none

        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            exact = nct.logpdf(t, df, ncps)
        log_alt = np.where(np.isnan(exact), log_alt, exact)
    log_e = np.logaddexp.reduce(log_alt) - math.log(ncps.size) - log_null
    return float(math.exp(min(log_e, 700.0)))


def _mean_ss(scores: Sequence[float]) -> tuple[float, float]:
    """Mean and sum of squared deviations (numpy once there are many: a long study has thousands)."""
    if len(scores) > 64:
        a = np.asarray(scores, dtype=float)
        m = float(a.mean())
        return m, float(np.square(a - m).sum())
    m = sum(scores) / len(scores)
    return m, sum((y - m) ** 2 for y in scores)


def one_sample_evalue(scores: Sequence[float], side: int, scales: Sequence[float] = PRIOR_SCALES) -> float:
    """t_evalue of mean(scores) > 0 (side=+1) or < 0 (side=-1), from the scores alone."""
    n = len(scores)
    if n < 2:
        return 1.0
    m, ss = _mean_ss(scores)
    sd = math.sqrt(ss / (n - 1))
    if sd == 0:
        return 1.0 if m == 0 or (m > 0) != (side > 0) else math.inf
    return t_evalue(m / (sd / math.sqrt(n)), n, n - 1, side, scales)


def two_sample_evalue(a: Sequence[float], b: Sequence[float], side: int) -> float:
    """t_evalue of mean(a) - mean(b) on `side`, pooled-variance two-sample t."""
    na, nb = len(a), len(b)
    if na + nb < 3:
        return 1.0
    (ma, ssa), (mb, ssb) = _mean_ss(a), _mean_ss(b)
    ss = ssa + ssb
    df = na + nb - 2
    n_eff = 1 / (1 / na + 1 / nb)
    if ss == 0:
        return 1.0 if ma == mb or (ma > mb) != (side > 0) else math.inf
    return t_evalue((ma - mb) / math.sqrt(ss / df / n_eff), n_eff, df, side)


def more_scores_to_decide(delta: float, n: int | tuple[int, int], bound: float = E_BOUND,
                          level: float = 0.9, limit: int = 1000, cells: int = 0) -> int | None:
    """The fewest more scores after which the guard would decide, were the standardized
    effect to stay at its estimate delta = mean / s (s the seed-noise scale).

    One sample of n scores (n an int) in K cells (`cells`; 0 or 1: one) grows to N = n + k,
    the new scores going to cells it has (`stratified_evalue`):
        t_k = |delta| sqrt(N),   n_eff = N,   df = N - K
    Two samples (n = (n_a, n_b), an interaction) take the k scores one at a time, each
    to the smaller sample, K the cells of both:
        n_eff = 1 / (1/n_a + 1/n_b),   t_k = |delta| sqrt(n_eff),   df = n_a + n_b - max(K, 2)
    and
        k* = min{k >= 0 : t_evalue(t_k, n_eff, df, +1) >= bound  and  F_t(t_k; df) >= level}.

    A projection, not a promise: the next scores scatter around the estimate. At a
    fixed delta both conditions only grow with k, so k* is found by doubling, then
    bisection. None when delta is 0 or k* > limit (the effect sits at the threshold).
    """
    delta = abs(delta)
    if not delta > 0:  # also NaN
        return None

    def passes(k: int) -> bool:
        if isinstance(n, tuple):
            a, b = n
            a, b = (a + (k + 1) // 2, b + k // 2) if a <= b else (a + k // 2, b + (k + 1) // 2)
            if min(a, b) < 1:
                return False
            n_eff, df = 1 / (1 / a + 1 / b), a + b - max(cells, 2)
        else:
            n_eff, df = n + k, n + k - max(cells, 1)
        if df < 1:
            return False
        t = delta * math.sqrt(n_eff) if math.isfinite(delta) else 1e9
        return t_evalue(t, n_eff, df, +1) >= bound and float(stdtr(df, t)) >= level

    if passes(0):
        return 0
    hi = 1
    while not passes(hi):
        if hi > limit:
            return None
        hi *= 2
    lo = hi // 2  # passes(lo) is false (or lo = 0, checked above)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if passes(mid) else (mid, hi)
    return hi if hi <= limit else None
