"""A seed pair's score and its convergence speed (parser/checker/scoring.py)."""
import math

import pytest

from parser.checker import scoring


@pytest.mark.parametrize("arm,base,direction,tau,relative,expected", [
    (80, 100, "lower", 0.2, True, 0.0),  # exactly 20% fewer: on the threshold
    (50, 100, "lower", 0.2, True, math.log(0.8) - math.log(0.5)),
    (120, 100, "higher", 0.1, True, math.log(1.2) - math.log(1.1)),
    (2.0, 2.1, "lower", 0.05, False, 0.05),
    (2.2, 2.1, "higher", 0.0, False, 0.1),
])
def test_paired_score_is_positive_exactly_when_the_pair_favours_the_prediction(arm, base, direction, tau, relative, expected):
    assert scoring.paired_score(arm, base, direction, tau, relative) == pytest.approx(expected, abs=1e-12)


def test_paired_log_ratio_of_a_non_positive_metric_is_undefined():
    assert scoring.paired_score(0.0, 1.0, "lower", 0.1, True) is None


def test_steps_to_target_uses_a_loss_both_runs_reach():
    fast = [(0, 5.0), (10, 2.0), (20, 1.5), (30, 1.5)]
    slow_but_better = [(0, 5.0), (10, 4.0), (20, 2.0), (30, 1.0)]
    # worse best = 1.5, target = 1.5 + 0.1 * (5 - 1.5) = 1.85
    a, b = scoring.steps_to_target(fast, slow_but_better)
    assert a == pytest.approx(10 + 10 * (2.0 - 1.85) / 0.5)
    assert b == pytest.approx(20 + 10 * (2.0 - 1.85) / 1.0)


def test_a_run_that_plateaus_early_at_a_worse_loss_does_not_win_by_stopping():
    plateau = [(0, 5.0), (10, 3.0), (20, 3.0), (30, 3.0)]
    learner = [(0, 5.0), (10, 2.0), (20, 1.0), (30, 0.5)]
    a, b = scoring.steps_to_target(plateau, learner)
    assert b < a  # the learner passes the plateau's level first


def test_steps_to_target_is_undefined_when_nothing_was_learned():
    assert scoring.steps_to_target([(0, 1.0), (10, 1.0)], [(0, 1.0), (10, 1.2)]) is None
