import math
import random

import pytest
from scipy import stats as sp

from parser.checker import stats


def test_pooled_noise_with_no_replicates_is_the_prior():
    noise = stats.pooled_noise([[0.3], [0.1]], prior_scale=0.1, prior_df=1)
    assert noise.scale == pytest.approx(0.1)
    assert noise.df == 1


def test_pooled_noise_adds_within_cell_sums_of_squares():
    # cells [1, 3] (SS 2, df 1) and [0, 2, 4] (SS 8, df 2), prior 1 * 0.5^2
    noise = stats.pooled_noise([[1, 3], [0, 2, 4]], prior_scale=0.5, prior_df=1)
    assert noise.df == 4
    assert noise.scale == pytest.approx(math.sqrt((0.25 + 2 + 8) / 4))


def test_region_mean_posterior_matches_the_student_t_formula():
    noise = stats.Pooled(scale=0.2, df=6)
    post = stats.region_mean([0.1, 0.3, 0.2, 0.0], noise)
    expected = sp.t.cdf(0, 6, loc=0.15, scale=0.2 / 2)
    assert 1 - post.prob_positive() == pytest.approx(expected)


def test_difference_scale_is_root_sum_of_inverse_counts():
    post = stats.difference([1.0, 1.0], [0.0, 0.0, 0.0, 0.0], stats.Pooled(1.0, 10))
    assert post.mean == 1.0
    assert post.se == pytest.approx(math.sqrt(1 / 2 + 1 / 4))


def test_credible_interval_is_symmetric_with_t_quantiles():
    lo, hi = stats.Posterior(1.0, 0.5, 3).interval(0.9)
    assert hi - 1.0 == pytest.approx(sp.t.ppf(0.95, 3) * 0.5)
    assert 1.0 - lo == pytest.approx(hi - 1.0)


def test_binary_entropy_closed_form():
    assert stats.binary_entropy(0.5) == pytest.approx(1.0)
    assert stats.binary_entropy(0.0) == 0.0
    assert stats.binary_entropy(0.9) == pytest.approx(0.4689955935892812)


def _posterior_after(n_pairs, n_cells, true_mu, sigma, rng):
    """The checker's posterior: the cells' own noise (the fixed guess standing in for one pair)."""
    cells = [[rng.gauss(true_mu, sigma) for _ in range(n_pairs)] for _ in range(n_cells)]
    moments = []
    for ys in cells:
        moments.append(stats.Moments())
        for y in ys:
            moments[-1].add(y)
    noise = stats.seed_noise(moments, stats.PRIOR_LOG_SCALE)
    labels = [k for k, c in enumerate(cells) for _ in c]
    return stats.stratified_mean(stats.strata([y for c in cells for y in c], labels), noise).prob_positive()


def test_posterior_is_calibrated_when_effects_are_drawn_from_a_wide_prior():
    """Among simulated studies, those with confidence in [0.8, 0.95] hold about that often."""
    rng = random.Random(7)
    hits = []
    for _ in range(4000):
        mu = rng.gauss(0, 0.1)
        p = _posterior_after(n_pairs=2, n_cells=3, true_mu=mu, sigma=0.1, rng=rng)
        if 0.8 <= p <= 0.95:
            hits.append((p, mu > 0))
    mean_p = sum(p for p, _ in hits) / len(hits)
    freq = sum(h for _, h in hits) / len(hits)
    assert len(hits) > 200
    assert abs(freq - mean_p) < 0.05


def test_one_pair_with_the_prior_alone_rarely_looks_decisive_under_no_effect():
    rng = random.Random(3)
    confident = sum(_posterior_after(1, 1, 0.0, 0.1, rng) > 0.9 for _ in range(2000)) / 2000
    assert confident < 0.1


@pytest.mark.parametrize("t, n, df", [(2.5, 6, 5), (8.0, 3, 2), (30.0, 3, 2), (1.0, 10, 9), (4.0, 20, 19)])
def test_t_evalue_matches_direct_integration_over_the_prior(t, n, df):
    from scipy import integrate

    def prior(d):  # the equal mixture of half-normals over the standardized effect
        return sum(2 / s * sp.norm.pdf(d / s) for s in stats.PRIOR_SCALES) / len(stats.PRIOR_SCALES)

    num, _ = integrate.quad(lambda d: sp.nct.pdf(t, df, d * math.sqrt(n)) * prior(d), 0, 100,
                            limit=400, points=[0.5, 1, 2, 4, 8, 16])
    expected = num / sp.t.pdf(t, df)
    assert stats.t_evalue(t, n, df, +1) == pytest.approx(expected, rel=0.02)


def test_the_wide_prior_lets_a_few_clean_pairs_decide_where_a_narrow_one_cannot():
    # three pairs whose effect is nine seed-noise sds: ML-sized, and decisive at once
    t, n, df = 9 * math.sqrt(3), 3, 2
    assert stats.t_evalue(t, n, df, +1, scales=(1.0,)) < stats.E_BOUND < stats.t_evalue(t, n, df, +1)
    # the price: a modest effect needs a little more data than under half-normal(1) alone
    t = 1.5 * math.sqrt(5)
    assert 0.5 < stats.t_evalue(t, 5, 4, +1) / stats.t_evalue(t, 5, 4, +1, scales=(1.0,)) < 1


def test_t_evalue_without_a_scale_estimate_is_no_evidence():
    assert stats.t_evalue(10.0, 1, 0, +1) == 1.0
    assert stats.one_sample_evalue([3.0], +1) == 1.0


def test_evidence_grows_with_replicates_of_a_real_effect_and_not_against_it():
    ys = [1.0, 0.8, 1.2, 0.9, 1.1, 1.0]
    growing = [stats.one_sample_evalue(ys[:n], +1) for n in range(2, 7)]
    assert growing == sorted(growing) and growing[-1] > stats.E_BOUND
    assert stats.one_sample_evalue(ys, -1) < 1


def _sequential_false_decisions(guarded, studies=600, looks=12):
    """Truth exactly at the threshold; look after every pair; any decision is false."""
    from bench.guard import false_decision_rate

    return false_decision_rate(guarded, studies, looks)


def test_the_e_value_guard_keeps_false_decisions_at_the_threshold_under_five_percent():
    assert _sequential_false_decisions(guarded=True) <= 0.05


def test_without_the_guard_looking_after_every_run_decides_falsely_far_too_often():
    # the reason the guard exists: this is what the bare posterior does
    assert _sequential_false_decisions(guarded=False) > 0.2


def test_running_moments_match_the_two_pass_formula():
    m = stats.Moments()
    for y in (1.0, 2.0, 3.0, 4.0):
        m.add(y)
    assert (m.n, m.mean, m.ss) == (4, 2.5, 5.0)  # sum of squared deviations from 2.5
    cells = [[0.1, 0.3, 0.2], [1.0], [5.0, 5.5]]
    moments = []
    for ys in cells:
        c = stats.Moments()
        for y in ys:
            c.add(y)
        moments.append(c)
    a, b = stats.pooled_moments(moments, 0.1), stats.pooled_noise(cells, 0.1)
    assert a.df == b.df == 1 + 2 + 1
    assert math.isclose(a.scale, b.scale, rel_tol=1e-12)
    assert math.isclose(a.scale ** 2, (0.01 + 0.02 + 0.125) / 4, rel_tol=1e-12)


@pytest.mark.parametrize("t", [0.5, 2.0, 3.3, 6.0])
def test_evalue_has_no_seam_where_the_large_df_form_takes_over(t):
    below = stats.t_evalue(t, stats.LARGE_DF + 1, stats.LARGE_DF, +1)
    above = stats.t_evalue(t, stats.LARGE_DF + 2, stats.LARGE_DF + 1, +1)
    assert math.isclose(below, above, rel_tol=0.01)


def test_evalue_of_thousands_of_pairs_is_finite_and_still_honest():
    # scipy's noncentral t overflows past ~340 df; thousands of pairs must still work
    rng = random.Random(5)
    null = [rng.gauss(0, 1) for _ in range(5000)]
    real = [rng.gauss(0.2, 1) for _ in range(5000)]
    assert stats.one_sample_evalue(null, +1) < 1.0
    assert stats.one_sample_evalue(real, +1) > 1e6
    assert stats.two_sample_evalue(real, null, +1) > 1e6
