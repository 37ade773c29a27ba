"""trajectory/effects.py: the checker's scores translated into each prediction's own terms."""
import math

import pytest

from parser.checker.verdicts import assess_all
from parser.schema import Condition, PredictionSpec
from tests.records import comparison, interaction, pairs
from trajectory import effects

RELATIVE = PredictionSpec(metric="steps_to_target", factor="norm_position", arm="pre", baseline="post",
                          threshold=0.2, condition=Condition(variable="n_train_samples", op="<", value=1000))


def test_a_known_ratio_in_gives_the_same_ratio_out_with_its_interval_and_threshold():
    b = -math.log(0.27)  # lower is better: benefit = -log(arm / base)
    e = effects.comparison(RELATIVE, b, (-math.log(0.30), -math.log(0.25)))
    assert e.estimate == pytest.approx(0.27) and e.interval == pytest.approx((0.25, 0.30))
    assert e.text() == "pre/post steps_to_target 0.27× [0.25, 0.30]; needs < 0.80"


def test_a_written_loss_target_is_named_in_the_effect_and_its_interaction():
    spec = RELATIVE.model_copy(update={"target": 2.0})
    e = effects.comparison(spec, -math.log(0.27), (-math.log(0.30), -math.log(0.25)))
    assert e.text() == "pre/post steps to val loss 2.0: 0.27× [0.25, 0.30]; needs < 0.80"
    by_n = spec.model_copy(update={"kind": "interaction", "of": "p1",
                                   "condition": Condition(variable="n_train_samples", op=">", value=2000)})
    found = effects.interaction(by_n, spec, (0.3, (0.2, 0.4)), (0.1, (0.0, 0.2)), 0.2, (0.1, 0.3))
    assert found.text().startswith("pre/post steps to val loss 2.0: 0.74× [0.67, 0.82] where n_train_samples < 1000 vs")


def test_higher_is_better_reads_the_ratio_the_other_way_up():
    spec = RELATIVE.model_copy(update={"direction": "higher", "metric": "tokens_per_s"})
    e = effects.comparison(spec, math.log(1.5), (math.log(1.2), math.log(1.9)))
    assert e.text() == "pre/post tokens_per_s 1.50× [1.20, 1.90]; needs > 1.20"


def test_an_absolute_comparison_is_the_difference_in_the_metrics_units():
    spec = RELATIVE.model_copy(update={"metric": "final_val_loss", "relative": False, "threshold": 0.02})
    e = effects.comparison(spec, 0.05, (0.03, 0.07))  # benefit = -(arm - base)
    assert e.estimate == pytest.approx(-0.05) and e.interval == pytest.approx((-0.07, -0.03))
    assert e.text() == "pre - post final_val_loss -0.05 [-0.07, -0.03]; needs < -0.02"


def test_an_equivalence_is_the_ratio_against_its_margin():
    spec = RELATIVE.model_copy(update={"kind": "equivalence", "threshold": 0.05, "condition": None})
    e = effects.comparison(spec, -math.log(1.01), (-math.log(1.03), -math.log(0.99)))
    assert e.text() == "pre/post steps_to_target 1.010× [0.990, 1.030]; needs within [0.952, 1.050]"


def test_a_bound_is_the_estimated_metric_against_the_bound():
    spec = PredictionSpec(kind="bound", metric="final_val_loss", threshold=2.5, factor="norm_position",
                          arm="pre", relative=False)
    assert effects.bound(spec, 2.31, (2.33, 2.29)).text() == \
        "mean final_val_loss with norm_position = pre 2.31 [2.29, 2.33]; needs < 2.5"
    assert effects.bound_mean(spec, 0.19) == pytest.approx(2.31)  # the score is bound - mean


def test_an_interaction_shows_each_regions_effect_and_how_much_weaker_it_is_there():
    spec = PredictionSpec(kind="interaction", metric="steps_to_target", factor="norm_position", arm="pre",
                          baseline="post", of="p1", condition=Condition(variable="n_train_samples", op=">",
                                                                        value=2000))
    ref, there = -math.log(0.27), -math.log(0.81)
    found = effects.interaction(spec, RELATIVE, (ref, (ref - 0.1, ref + 0.1)), (there, (there - 0.1, there + 0.1)),
                                ref - there, (ref - there - 0.2, ref - there + 0.2))
    assert found.drop.estimate == pytest.approx(3.0)  # 0.81 / 0.27: the ratio is 3x closer to 1 there
    assert found.text().startswith("pre/post steps_to_target 0.27× [0.24, 0.30] where n_train_samples < 1000 vs "
                                   "0.81× [0.73, 0.90] where n_train_samples > 2000; the effect is weaker there by 3.00×")
    assert found.text().endswith("needs > 1.05×")  # weaker by more than the default 5% margin
    assert effects.sentence(spec, "refuted", found) == \
        "the effect is not smaller where n_train_samples > 2000: 0.81× where n_train_samples > 2000 vs " \
        "0.27× where n_train_samples < 1000"


def test_an_interaction_on_another_factor_is_read_inside_the_comparisons_region():
    spec = PredictionSpec(kind="interaction", factor="norm_position", arm="pre", baseline="post", of="p1",
                          condition=Condition(variable="learning_rate", op="==", value=0.003))
    assert effects.regions(spec, RELATIVE) == ("n_train_samples < 1000, learning_rate != 0.003",
                                               "n_train_samples < 1000, learning_rate == 0.003")


def test_an_interaction_on_the_comparisons_own_variable_names_the_reference_region_it_reads():
    # "20% faster at N < 3000" and "diminishes at N > 1000": the pairs at 1000 < N < 3000 are
    # the weaker region's (`regions.region`), so the reference is N <= 1000, not N < 3000
    source = RELATIVE.model_copy(update={"condition": Condition(variable="n_train_samples", op="<", value=3000)})
    spec = PredictionSpec(kind="interaction", factor="norm_position", arm="pre", baseline="post", of="p1",
                          condition=Condition(variable="n_train_samples", op=">", value=1000))
    assert effects.regions(spec, source) == ("n_train_samples <= 1000", "n_train_samples > 1000")
    beyond = spec.model_copy(update={"condition": Condition(variable="n_train_samples", op=">", value=5000)})
    assert effects.regions(beyond, source)[0] == "n_train_samples < 3000"  # the comparison's region is tighter
    above = source.model_copy(update={"condition": Condition(variable="n_train_samples", op=">", value=500)})
    assert effects.regions(beyond, above)[0] == "500 < n_train_samples <= 5000"


def test_a_refuted_comparison_reads_as_no_evidence_of_the_claimed_effect():
    e = effects.comparison(RELATIVE, -math.log(0.95), (-math.log(1.0), -math.log(0.9)))
    assert effects.sentence(RELATIVE, "refuted", e) == \
        "no evidence of the claimed effect: pre/post steps_to_target 0.95× [0.90, 1.00], not < 0.80"
    assert effects.sentence(RELATIVE, "confirmed", e) is None


def test_the_checkers_verdict_comes_back_as_the_ratio_the_pairs_show():
    p1 = comparison(threshold=0.2)
    records = pairs([(1.5, 2.0), (1.52, 2.0), (1.48, 2.0), (1.5, 2.0)])  # pre/post = 0.75 in every pair
    v = assess_all([p1], records)["p1"]
    assert effects.short(p1.spec, None, v.effect, v.interval).startswith("pre/post final_val_loss 0.75× [0.7")


def test_the_live_views_interaction_line_is_the_drop_alone():
    p1, p2 = comparison(), interaction()
    assert effects.short(p2.spec, p1.spec, math.log(2.0), (math.log(1.5), math.log(2.5))) == \
        "the effect is weaker there by 2.00× [1.50, 2.50]; needs > 1.05×"


def test_a_ratio_near_its_threshold_gets_the_decimals_that_tell_them_apart():
    spec = RELATIVE.model_copy(update={"threshold": 0.02, "condition": None})
    e = effects.comparison(spec, -math.log(0.9771), (-math.log(0.9785), -math.log(0.9757)))
    assert e.text() == "pre/post steps_to_target 0.977× [0.976, 0.979]; needs < 0.98"


def test_a_threshold_of_half_a_percent_is_written_as_it_is():
    spec = RELATIVE.model_copy(update={"threshold": 0.005, "condition": None})
    e = effects.comparison(spec, -math.log(0.988), (-math.log(0.990), -math.log(0.985)))
    assert e.text() == "pre/post steps_to_target 0.988× [0.985, 0.990]; needs < 0.995"
