"""Pure statistics for prediction confidence. Numbers in, numbers out; no I/O.

Model. Each seed-paired run gives one score y (see `paired_score`), signed so
the prediction holds when the mean score mu is positive. Scores are Normal with a
seed-noise variance sigma^2 shared by every design cell of the prediction:

    y_ci ~ N(mu_c, sigma^2),   p(mu) flat,   sigma^2 ~ Scaled-Inv-chi2(nu0, s0^2)

Pooling the within-cell sums of squares across cells gives the posterior

    s^2 = (nu0 s0^2 + sum_c sum_i (y_ci - ybar_c)^2) / (nu0 + sum_c (n_c - 1))
    mu_R | data ~ t_{nu}(ybar_R, s / sqrt(n_R)),   nu = nu0 + sum_c (n_c - 1)

for the mean over the n_R pairs of a region R, so one pair already gives an honest
(wide, heavy-tailed) answer and more seeds anywhere sharpen every region.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.stats import nct, norm
from scipy.stats import t as student_t

PRIOR_DF = 1.0  # nu0: the prior is worth one degree of freedom
PRIOR_LOG_SCALE = 0.1  # s0 for log-ratios: a 10% seed-to-seed spread before any data
PRIOR_ABS_FRACTION = 0.05  # s0 for absolute differences: 5% of the metric's magnitude


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
        return float(student_t.cdf(self.mean / self.se, self.df))

    def prob_between(self, lo: float, hi: float) -> float:
        """P(lo < mu < hi | data) = F_t((hi - mean)/se) - F_t((lo - mean)/se)."""
        return float(student_t.cdf((hi - self.mean) / self.se, self.df)
                     - student_t.cdf((lo - self.mean) / self.se, self.df))

    def interval(self, mass: float = 0.9) -> tuple[float, float]:
        half = float(student_t.ppf(0.5 + mass / 2, self.df)) * self.se
        return self.mean - half, self.mean + half


def pooled_noise(cells: Sequence[Sequence[float]], prior_scale: float,
                 prior_df: float = PRIOR_DF) -> Pooled:
    """s^2 = (nu0 s0^2 + SS_within) / (nu0 + sum(n_c - 1)); cells with one pair add nothing."""
    ss, df = prior_df * prior_scale ** 2, prior_df
    for ys in cells:
        if len(ys) > 1:
            m = sum(ys) / len(ys)
            ss += sum((y - m) ** 2 for y in ys)
            df += len(ys) - 1
    return Pooled(math.sqrt(ss / df), df)


def region_mean(scores: Sequence[float], noise: Pooled) -> Posterior:
    """mu_R ~ t_nu(mean(y), s / sqrt(n))."""
    n = len(scores)
    return Posterior(sum(scores) / n, noise.scale / math.sqrt(n), noise.df)


def difference(a: Sequence[float], b: Sequence[float], noise: Pooled) -> Posterior:
    """mu_A - mu_B ~ t_nu(mean(a) - mean(b), s sqrt(1/n_A + 1/n_B))."""
    se = noise.scale * math.sqrt(1 / len(a) + 1 / len(b))
    return Posterior(sum(a) / len(a) - sum(b) / len(b), se, noise.df)


def paired_score(arm: float, base: float, direction: str, threshold: float,
                 relative: bool) -> float | None:
    """The per-pair score y, positive when the pair favours the prediction.

    relative, lower:  y = log(1 - tau) - log(arm / base)
    relative, higher: y = log(arm / base) - log(1 + tau)
    absolute, lower:  y = -tau - (arm - base)
    absolute, higher: y = (arm - base) - tau
    None when a log-ratio is undefined (a non-positive metric).
    """
    if relative:
        if arm <= 0 or base <= 0:
            return None
        ratio = math.log(arm / base)
        return math.log(1 - threshold) - ratio if direction == "lower" else ratio - math.log(1 + threshold)
    diff = arm - base
    return -threshold - diff if direction == "lower" else diff - threshold


def benefit(arm: float, base: float, direction: str, relative: bool) -> float | None:
    """The effect itself (no threshold), positive when the arm is better."""
    return paired_score(arm, base, direction, 0.0, relative)


def steps_to_target(curve_a: Sequence[Sequence[float]],
                    curve_b: Sequence[Sequence[float]]) -> tuple[float, float] | None:
    """Steps each run needs to reach a loss target that both reach.

    target = worse_best + 0.1 (start - worse_best), where worse_best is the larger of
    the two runs' best losses and start the smaller initial loss: 90% of the way to
    what both achieve. A run that plateaus early at a worse loss sets the bar rather
    than winning by stopping. Crossings are linearly interpolated between evaluations.
    None when either curve has fewer than two points or nothing was learned.
    """
    if len(curve_a) < 2 or len(curve_b) < 2:
        return None
    worse_best = max(min(l for _, l in curve_a), min(l for _, l in curve_b))
    start = min(curve_a[0][1], curve_b[0][1])
    if not start > worse_best:
        return None
    target = worse_best + 0.1 * (start - worse_best)
    return _first_crossing(curve_a, target), _first_crossing(curve_b, target)


def _first_crossing(curve: Sequence[Sequence[float]], target: float) -> float:
    prev_step, prev_loss = curve[0]
    if prev_loss <= target:
        return float(prev_step)
    for step, loss in curve[1:]:
        if loss <= target:
            return prev_step + (step - prev_step) * (prev_loss - target) / (prev_loss - loss)
        prev_step, prev_loss = step, loss
    return float(curve[-1][0])  # unreachable: the target is above both minima


def binary_entropy(p: float) -> float:
    """H(p) in bits; 0 at certainty, 1 at p = 0.5."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


E_BOUND = 20.0  # decide only when the e-value passes 1/alpha, alpha = 0.05 per side
_PRIOR_GRID = 48  # equal-mass points of the half-normal effect-size prior


def t_evalue(t: float, n_eff: float, df: float, side: int, prior_scale: float = 1.0) -> float:
    """Anytime-valid evidence that the standardized mean is on `side` (+1 or -1) of zero.

    The scale-invariant Bayes factor of a t statistic (Lai 1976; Perez-Ortiz et al.
    2024: with the right-Haar prior on sigma it is an e-process under H0, so by
    Ville's inequality P(ever E >= 1/alpha) <= alpha however often one looks):

        E = integral f_df(t | ncp = delta sqrt(n_eff)) pi(delta) d delta / f_df(t | 0)

    with pi a half-normal(prior_scale) on the alternative's side. For the one-sided
    null (delta on the other side or 0) the likelihood ratio is largest at delta = 0,
    so the bound holds there too. The integral is a midpoint rule over equal-mass
    prior quantiles. No evidence without a scale estimate: df < 1 gives 1.
    """
    if df < 1 or not math.isfinite(t):
        return 1.0
    k = np.arange(_PRIOR_GRID)
    deltas = side * prior_scale * norm.ppf(0.5 + 0.5 * (k + 0.5) / _PRIOR_GRID)
    log_alt = nct.logpdf(t, df, deltas * math.sqrt(n_eff))
    log_null = student_t.logpdf(t, df)
    log_e = np.logaddexp.reduce(log_alt) - math.log(_PRIOR_GRID) - log_null
    return float(math.exp(min(log_e, 700.0)))


def one_sample_evalue(scores: Sequence[float], side: int) -> float:
    """t_evalue of mean(scores) > 0 (side=+1) or < 0 (side=-1), from the scores alone."""
    n = len(scores)
    if n < 2:
        return 1.0
    m = sum(scores) / n
    sd = math.sqrt(sum((y - m) ** 2 for y in scores) / (n - 1))
    if sd == 0:
        return 1.0 if m == 0 or (m > 0) != (side > 0) else math.inf
    return t_evalue(m / (sd / math.sqrt(n)), n, n - 1, side)


def two_sample_evalue(a: Sequence[float], b: Sequence[float], side: int) -> float:
    """t_evalue of mean(a) - mean(b) on `side`, pooled-variance two-sample t."""
    na, nb = len(a), len(b)
    if na + nb < 3:
        return 1.0
    ma, mb = sum(a) / na, sum(b) / nb
    ss = sum((y - ma) ** 2 for y in a) + sum((y - mb) ** 2 for y in b)
    df = na + nb - 2
    n_eff = 1 / (1 / na + 1 / nb)
    if ss == 0:
        return 1.0 if ma == mb or (ma > mb) != (side > 0) else math.inf
    return t_evalue((ma - mb) / math.sqrt(ss / df / n_eff), n_eff, df, side)
