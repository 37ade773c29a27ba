"""stats.more_scores_to_decide: the fewest more pairs for the guard to decide at the current estimate."""
import math

import pytest
from scipy.stats import t as student_t

from parser.checker import stats


def test_with_the_e_value_bound_off_it_is_the_first_n_whose_t_posterior_passes_the_level():
    # delta = 1, two scores so far: N = 2, 3, 4 give t = sqrt(N) on N - 1 df, whose
    # cdf is 0.80, 0.89, 0.93: the second score more is the first to pass 0.9
    assert [round(student_t.cdf(math.sqrt(n), n - 1), 2) for n in (2, 3, 4)] == [0.80, 0.89, 0.93]
    assert stats.more_scores_to_decide(1.0, 2, bound=0.0) == 2


def test_at_the_found_count_the_e_value_passes_its_bound_and_one_fewer_does_not():
    delta, n = 0.6, 3
    k = stats.more_scores_to_decide(delta, n)
    e = lambda m: stats.t_evalue(delta * math.sqrt(m), m, m - 1, +1)  # noqa: E731
    assert e(n + k) >= stats.E_BOUND > e(n + k - 1)


def test_an_unbounded_effect_needs_the_guards_floor_of_three_pairs():
    assert stats.more_scores_to_decide(math.inf, 0) == 3
    assert stats.more_scores_to_decide(math.inf, 3) == 0


def test_two_samples_need_one_score_more_than_one_and_fill_the_smaller_first():
    assert stats.more_scores_to_decide(math.inf, (0, 0)) == 4
    assert stats.more_scores_to_decide(math.inf, (3, 0)) == 1


def test_a_larger_effect_needs_fewer_pairs_and_the_sign_does_not_matter():
    counts = [stats.more_scores_to_decide(d, 2) for d in (0.3, 0.6, 1.2)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    assert stats.more_scores_to_decide(-0.6, 2) == stats.more_scores_to_decide(0.6, 2)


@pytest.mark.parametrize("delta", [0.0, float("nan"), 1e-4])
def test_an_effect_at_the_threshold_is_never_decided_within_the_limit(delta):
    assert stats.more_scores_to_decide(delta, 2, limit=1000) is None
