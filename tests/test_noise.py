"""The seed-noise estimate and the stratified guard (issue 27): right at 0.1% and at 30%."""
import math
import random

import pytest
from scipy import stats as sp

from parser.checker import stats
from parser.checker.evidence import Evidence
from parser.checker.verdicts import judge, more_to_decide


def moments(*cells):
    out = []
    for ys in cells:
        m = stats.Moments()
        for y in ys:
            m.add(y)
        out.append(m)
    return out


def test_with_a_replicate_the_noise_is_the_pairs_own_scatter_with_no_prior():
    # cells [1, 3] (SS 2, df 1) and [0, 2, 4] (SS 8, df 2): Jeffreys, s^2 = SS / df
    noise = stats.seed_noise(moments([1, 3], [0, 2, 4]), stand_in=100.0)
    assert noise.df == 3
    assert noise.scale == pytest.approx(math.sqrt(10 / 3))


def test_the_stand_in_speaks_only_while_there_is_a_single_score():
    assert stats.seed_noise(moments([0.3]), stand_in=0.1) == stats.Pooled(0.1, stats.PRIOR_DF)
    assert stats.seed_noise(moments([0.3], [0.1]), stand_in=100.0).scale == pytest.approx(math.sqrt(0.02))


def test_single_score_cells_share_one_mean_and_replicated_cells_keep_their_own():
    # [5, 7]: SS 2, df 1; singles 0 and 2 about their mean 1: SS 2, df 1
    ss, df = stats.residuals(moments([5, 7], [0], [2]))
    assert (ss, df) == (pytest.approx(4.0), 2)


@pytest.mark.parametrize("sigma", [0.001, 0.3])
def test_the_noise_estimate_is_the_same_at_a_tenth_of_a_percent_and_at_thirty(sigma):
    rng = random.Random(1)
    z = [[rng.gauss(0, 1) for _ in range(3)] for _ in range(4)]
    unit = stats.seed_noise(moments(*z), stats.PRIOR_LOG_SCALE)
    scaled = stats.seed_noise(moments(*[[sigma * v for v in c] for c in z]), stats.PRIOR_LOG_SCALE)
    assert scaled.df == unit.df == 8
    assert scaled.scale == pytest.approx(sigma * unit.scale)


def test_strata_weigh_every_cell_alike():
    st = stats.strata([1.0, 3.0, 10.0], ["a", "a", "b"])
    assert st.mean == pytest.approx((2.0 + 10.0) / 2)
    assert st.v == pytest.approx((1 / 2 + 1) / 4)
    assert (st.ss, st.df) == (pytest.approx(2.0), 1)


def test_with_one_cell_the_stratified_guard_is_the_one_sample_t_e_value():
    ys = [0.3, 0.5, 0.2, 0.4, 0.35]
    for side in (+1, -1):
        assert stats.stratified_evalue(stats.strata(ys), side) == pytest.approx(stats.one_sample_evalue(ys, side))
        assert stats.stratified_evalue(stats.strata(ys, ["c"] * 5), side) == \
            pytest.approx(stats.one_sample_evalue(ys, side))


def test_with_one_cell_each_the_stratified_difference_is_the_two_sample_t_e_value():
    a, b = [0.3, 0.5, 0.2, 0.4], [0.1, 0.0, 0.15]
    d = stats.strata(a).minus(stats.strata(b))
    assert stats.stratified_evalue(d, +1) == pytest.approx(stats.two_sample_evalue(a, b, +1))


def test_the_stratified_guard_does_not_see_a_shift_between_cells_that_keeps_the_mean():
    rng = random.Random(2)
    ys = [rng.gauss(0.1, 0.05) for _ in range(8)]
    cells = ["a"] * 4 + ["b"] * 4
    shifted = [y + (0.7 if c == "a" else -0.7) for y, c in zip(ys, cells)]
    e = stats.stratified_evalue(stats.strata(ys, cells), +1)
    assert stats.stratified_evalue(stats.strata(shifted, cells), +1) == pytest.approx(e)
    assert stats.one_sample_evalue(shifted, +1) < 2 < 50 < e  # the raw scores count the gap as noise


def test_the_posterior_and_the_guard_read_the_same_t():
    ys, cells = [0.3, 0.5, 0.2, 0.9, 1.0, 0.8], ["a", "a", "a", "b", "b", "b"]
    st = stats.strata(ys, cells)
    noise = stats.seed_noise(moments(ys[:3], ys[3:]), stats.PRIOR_LOG_SCALE)
    post = stats.stratified_mean(st, noise)
    t = st.mean / (st.sd() * math.sqrt(st.v))
    assert post.prob_positive() == pytest.approx(sp.t.cdf(t, 4))
    assert stats.stratified_evalue(st, +1) == pytest.approx(stats.t_evalue(t, 1 / st.v, 4, +1))


def _evidence(ys, cells):
    by = {}
    for y, c in zip(ys, cells):
        by.setdefault(c, []).append(y)
    return Evidence("mean", tuple(ys), stats.seed_noise(moments(*by.values()), stats.PRIOR_LOG_SCALE),
                    cells=tuple(cells))


@pytest.mark.parametrize("sigma", [0.002, 0.3])
def test_a_verdict_is_the_same_at_any_scale_of_noise_once_there_is_a_replicate(sigma):
    rng = random.Random(4)
    z = [rng.gauss(1.5, 1) for _ in range(6)]  # an effect of 1.5 seed-noise sds
    cells = ["a", "a", "b", "b", "c", "c"]
    for n in range(2, 7):
        unit, scaled = judge(_evidence(z[:n], cells[:n])), judge(_evidence([sigma * v for v in z[:n]], cells[:n]))
        assert scaled.status == unit.status
        assert scaled.confidence == pytest.approx(unit.confidence)
        assert scaled.evidence == pytest.approx(unit.evidence)


def test_a_small_effect_at_small_noise_gets_the_plain_paired_interval_and_is_decided():
    # issue 27: dropout costs 1.2% of the loss at a 0.2% seed spread; the claim is 0.5%.
    # The old prior (10%, one df) held this at [0.97, 1.00] over 12 pairs, undecided.
    rng = random.Random(1)
    shift = math.log(0.995)
    benefit = [rng.gauss(0.012, 0.0028) for _ in range(6)]
    ys = [shift + b for b in benefit]
    j = judge(_evidence(ys, ["c"] * 6))
    n, m, sd = 6, sum(benefit) / 6, math.sqrt(sum((b - sum(benefit) / 6) ** 2 for b in benefit) / 5)
    half = sp.t.ppf(0.95, n - 1) * sd / math.sqrt(n)
    lo, hi = j.posterior.interval(0.9)
    assert (lo - shift, hi - shift) == (pytest.approx(m - half), pytest.approx(m + half))  # the plain paired t
    assert j.status == "confirmed"


def test_the_forecast_says_zero_more_exactly_when_the_guard_decides():
    # issue 27: a forecast of "about 1 more pair", repeated while the guard read other noise
    rng = random.Random(6)
    for trial in range(20):
        effect = rng.uniform(0.5, 3.0)
        ys = [rng.gauss(effect, 1.0) for _ in range(12)]
        cells = [k // 2 % 2 for k in range(12)]  # two cells, two seeds at a time
        for n in (4, 8, 12):  # balanced
            ev = _evidence(ys[:n], cells[:n])
            decided = judge(ev).status != "undecided"
            assert (more_to_decide(ev) == 0) == decided, (trial, n)


def _stratified_false_decisions(studies, looks, cells, gap, seed=9):
    from bench.guard import false_decision_rate

    return false_decision_rate(True, studies, looks, seed=seed, cells=cells, gap=gap)


def test_cells_that_differ_around_the_threshold_do_not_make_the_guard_decide():
    # two cells 4 seed-noise sds apart whose mean sits exactly at the threshold
    assert _stratified_false_decisions(300, 12, cells=2, gap=4.0) <= 0.05
