import math

import pytest
from scipy import stats as sp

from parser.checker import assess_all, find_pairs
from parser.schema import Condition
from tests.records import comparison, interaction, pairs, record


def test_a_prediction_with_no_runs_is_untested():
    verdicts = assess_all([comparison()], [])
    assert verdicts["p1"].status == "untested"
    assert verdicts["p1"].confidence is None


def test_an_unreachable_prediction_without_data_is_untestable_with_its_reason():
    verdicts = assess_all([comparison()], [], {"p1": "no configuration reaches N > 5"})
    assert verdicts["p1"].status == "untestable"
    assert "N > 5" in verdicts["p1"].reason


def test_arms_pair_only_with_the_same_seed_and_cell():
    records = [record("a", "pre", 0), record("b", "post", 1), record("c", "post", 0, fraction=0.5)]
    assert find_pairs(comparison().spec, records) == []


def test_failed_runs_never_form_pairs():
    records = [record("a", "pre", 0), record("b", "post", 0, status="failed")]
    assert find_pairs(comparison().spec, records) == []


def test_confidence_equals_the_closed_form_student_t_posterior():
    losses = [(1.8, 2.0), (1.9, 2.0), (1.7, 2.0)]
    y = [math.log(0.9) - math.log(a / b) for a, b in losses]  # threshold 10%
    mean = sum(y) / 3
    ss = sum((v - mean) ** 2 for v in y)
    s = math.sqrt((1 * 0.1 ** 2 + ss) / (1 + 2))
    expected = 1 - sp.t.cdf(0, 3, loc=mean, scale=s / math.sqrt(3))
    verdict = assess_all([comparison(threshold=0.1)], pairs(losses))["p1"]
    assert verdict.confidence == pytest.approx(expected)
    assert verdict.n_pairs == 3


def test_a_clear_large_effect_is_confirmed_and_its_opposite_refuted():
    good = pairs([(1.0, 2.0), (1.02, 2.0), (0.98, 2.0), (1.01, 2.0)])
    assert assess_all([comparison()], good)["p1"].status == "confirmed"
    bad = pairs([(2.0, 1.0), (2.02, 1.0), (1.98, 1.0), (2.01, 1.0)])
    assert assess_all([comparison()], bad)["p1"].status == "refuted"


def test_an_effect_right_at_the_threshold_stays_undecided():
    at = pairs([(0.8 * 2.0, 2.0)] * 3)
    verdict = assess_all([comparison(threshold=0.2)], at)["p1"]
    assert verdict.confidence == pytest.approx(0.5, abs=1e-6)
    assert verdict.status == "undecided"


def test_the_condition_selects_pairs_by_n_train_samples():
    small = pairs([(1.0, 2.0)] * 3, fraction=0.1, n=1000)
    large = pairs([(2.0, 1.0)] * 3, fraction=1.0, n=90000, start=7)
    cond = Condition(variable="n_train_samples", op="<", value=5000)
    verdict = assess_all([comparison(condition=cond)], small + large)["p1"]
    assert verdict.n_pairs == 3
    assert verdict.status == "confirmed"


def test_seed_noise_is_pooled_across_cells():
    noisy_cell = pairs([(1.0, 2.0), (3.0, 2.0), (1.0, 2.0), (3.0, 2.0)], fraction=1.0, n=90000)
    one_pair = pairs([(1.5, 2.0)], fraction=0.1, n=1000, start=20)
    cond = Condition(variable="n_train_samples", op="<", value=5000)
    alone = assess_all([comparison(condition=cond)], one_pair)["p1"]
    pooled = assess_all([comparison(condition=cond)], one_pair + noisy_cell)["p1"]
    assert pooled.confidence < alone.confidence  # the noisy cell teaches caution


def test_an_interaction_compares_the_effect_across_regions():
    small = pairs([(1.0, 2.0), (1.05, 2.0), (0.95, 2.0), (1.02, 2.0), (0.97, 2.0)], fraction=0.1, n=1000)
    large = pairs([(1.95, 2.0), (2.0, 2.0), (1.9, 2.0), (1.97, 2.0), (1.93, 2.0)], fraction=1.0,
                  n=90000, start=11)
    cond = Condition(variable="n_train_samples", op="<", value=5000)
    verdicts = assess_all([comparison(condition=cond), interaction()], small + large)
    assert verdicts["p2"].status == "confirmed"
    assert verdicts["p2"].effect > 0


def test_steps_to_target_is_computed_from_the_pair_of_curves():
    fast = [[0, 5.0], [10, 2.0], [20, 1.0], [30, 1.0]]  # reaches the 1.4 target at 16
    slow = [[0, 5.0], [10, 4.5], [20, 3.0], [30, 1.0]]  # ... at 28: 43% fewer steps
    records = []
    for seed in range(4):
        records.append(record(f"a{seed}", "pre", seed, 1.0, curve=fast))
        records.append(record(f"b{seed}", "post", seed, 1.0, curve=slow))
    verdict = assess_all([comparison(metric="steps_to_target", threshold=0.2)], records)["p1"]
    assert verdict.status == "confirmed"


def test_one_pair_never_decides_however_large_the_effect():
    verdict = assess_all([comparison()], pairs([(0.5, 2.0)]))["p1"]
    assert verdict.confidence > 0.9
    assert verdict.status == "undecided"
    assert verdict.evidence == 1.0
