import math

import pytest
from scipy import stats as sp

from parser.checker.pairs import find_pairs
from parser.checker.verdicts import assess_all
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
    s = math.sqrt(ss / 2)  # Jeffreys: the plain paired t of DESIGN.md, no prior scale
    expected = 1 - sp.t.cdf(0, 2, loc=mean, scale=s / math.sqrt(3))
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
    for seed in range(4):  # replicates differ after the crossings (a copy of a seed is no evidence)
        end = [[40, 1.0 - 0.01 * seed]]
        records.append(record(f"a{seed}", "pre", seed, 1.0, curve=fast + end))
        records.append(record(f"b{seed}", "post", seed, 1.0, curve=slow + end))
    verdict = assess_all([comparison(metric="steps_to_target", threshold=0.2)], records)["p1"]
    assert verdict.status == "confirmed"


def test_one_pair_never_decides_however_large_the_effect():
    verdict = assess_all([comparison()], pairs([(0.5, 2.0)]))["p1"]
    assert verdict.confidence > 0.9
    assert verdict.status == "undecided"
    assert verdict.evidence == 1.0


def _bound(threshold, direction="lower", arm="pre"):
    from parser.schema import Prediction, PredictionSpec
    spec = PredictionSpec(kind="bound", metric="final_val_loss", direction=direction,
                          threshold=threshold, factor="norm_position" if arm else "", arm=arm)
    return Prediction(id="p1", text="bound", spec=spec, compiled_by="structured")


def _equivalent(margin):
    from parser.schema import Prediction, PredictionSpec
    spec = PredictionSpec(kind="equivalence", metric="final_val_loss", factor="norm_position",
                          arm="pre", baseline="post", threshold=margin)
    return Prediction(id="p1", text="same", spec=spec, compiled_by="structured")


def test_a_bound_is_judged_on_the_mean_over_seeds_of_the_named_arm():
    runs = pairs([(1.40, 3.0), (1.42, 3.0), (1.38, 3.0), (1.41, 3.0), (1.39, 3.0)])
    assert assess_all([_bound(1.5)], runs)["p1"].status == "confirmed"
    assert assess_all([_bound(1.3)], runs)["p1"].status == "refuted"
    verdict = assess_all([_bound(1.5, arm="post")], runs)["p1"]
    assert verdict.status == "refuted" and verdict.effect == pytest.approx(3.0, abs=0.01)


def test_a_bound_reports_the_metric_mean_and_its_interval():
    runs = pairs([(1.40, 2.0), (1.50, 2.0), (1.45, 2.0)])
    verdict = assess_all([_bound(2.0)], runs)["p1"]
    assert verdict.effect == pytest.approx(1.45)
    assert verdict.interval[0] < 1.45 < verdict.interval[1]


def test_equivalence_is_confirmed_when_the_ratio_stays_inside_the_margin():
    same_loss = pairs([(2.0, 2.01), (2.01, 2.0), (1.99, 2.0), (2.0, 2.0), (2.005, 2.0), (1.995, 2.0)])
    verdict = assess_all([_equivalent(0.05)], same_loss)["p1"]
    assert verdict.status == "confirmed"
    z = [-math.log(a / b) for a, b in [(2.0, 2.01), (2.01, 2.0), (1.99, 2.0), (2.0, 2.0),
                                        (2.005, 2.0), (1.995, 2.0)]]
    mean = sum(z) / 6
    s = math.sqrt(sum((v - mean) ** 2 for v in z) / 5)  # Jeffreys: the pairs' own scatter
    m, se = math.log(1.05), s / math.sqrt(6)
    expected = sp.t.cdf((m - mean) / se, 5) - sp.t.cdf((-m - mean) / se, 5)
    assert verdict.confidence == pytest.approx(expected)


def test_equivalence_is_refuted_when_one_arm_is_clearly_better():
    different = pairs([(1.5, 2.0), (1.52, 2.0), (1.48, 2.0), (1.51, 2.0), (1.49, 2.0), (1.5, 2.0)])
    assert assess_all([_equivalent(0.05)], different)["p1"].status == "refuted"


def test_equivalence_with_too_few_pairs_stays_undecided():
    assert assess_all([_equivalent(0.05)], pairs([(2.0, 2.0), (2.0, 2.01)]))["p1"].status == "undecided"


def test_an_effect_that_did_not_change_refutes_the_interaction():
    # the same effect in both regions: "it diminishes" is refuted against the 5% margin
    ratios = [0.5, 0.505, 0.495, 0.502, 0.498, 0.5]
    small = pairs([(2.0 * r, 2.0) for r in ratios], fraction=0.1, n=1000)
    large = pairs([(2.0 * r, 2.0) for r in reversed(ratios)], fraction=1.0, n=90000, start=21)
    cond = Condition(variable="n_train_samples", op="<", value=5000)
    verdict = assess_all([comparison(condition=cond), interaction()], small + large)["p2"]
    assert verdict.status == "refuted"
    assert verdict.effect == pytest.approx(0.0, abs=1e-12)  # the drop itself, not drop - margin


def test_an_interaction_states_its_margin_and_a_wider_one_is_harder_to_pass():
    spec = interaction(margin=0.3).spec
    assert "by more than 30%" in spec.text()
    assert "by more than 5%" in interaction().spec.text()  # the default
    small = pairs([(1.0, 2.0), (1.05, 2.0), (0.95, 2.0), (1.02, 2.0), (0.97, 2.0)], fraction=0.1, n=1000)
    large = pairs([(1.5, 2.0), (1.55, 2.0), (1.45, 2.0), (1.52, 2.0), (1.47, 2.0)], fraction=1.0,
                  n=90000, start=11)  # the ratio moves from 0.5 to 0.75: 1.5 times weaker
    cond = Condition(variable="n_train_samples", op="<", value=5000)
    narrow = assess_all([comparison(condition=cond), interaction()], small + large)["p2"]
    wide = assess_all([comparison(condition=cond), interaction(margin=0.8)], small + large)["p2"]
    assert narrow.status == "confirmed" and wide.status == "refuted"


def _at_margin_decisions(kind: str, guarded: bool, studies: int = 300, looks: int = 16, sigma: float = 0.05):
    """Share of sequential studies (a look after every pair) that decide, the truth sitting
    exactly at the practical margin, where any decision is false."""
    import random

    from parser.checker import stats
    from parser.checker.evidence import Evidence
    from parser.checker.verdicts import DECIDE, judge

    m = math.log(1.05)
    rng, decided = random.Random(5), 0
    for _ in range(studies):
        main, versus = [], []
        for k in range(looks):
            if kind == "interaction":  # pairs alternate between the regions; drop = margin
                (main if k % 2 == 0 else versus).append(rng.gauss(0.4 + m if k % 2 == 0 else 0.4, sigma))
                if not versus:
                    continue
                ev = Evidence("difference", tuple(y - m for y in main), stats.pooled_noise([main, versus], 0.1),
                              versus=tuple(versus))
            else:  # an equivalence whose true ratio sits on its margin
                main.append(rng.gauss(m, sigma))
                ev = Evidence("between", tuple(main), stats.pooled_noise([main], 0.1), margin=m)
            j = judge(ev)
            if (j.status != "undecided") if guarded else max(j.confidence, 1 - j.confidence) >= DECIDE:
                decided += 1
                break
    return decided / studies


@pytest.mark.parametrize("kind", ["interaction", "equivalence"])
def test_at_its_margin_a_null_is_decided_falsely_at_most_five_percent_of_the_time(kind):
    assert _at_margin_decisions(kind, guarded=True) <= 0.05


@pytest.mark.parametrize("kind", ["interaction", "equivalence"])
def test_at_its_margin_the_posterior_alone_would_decide_falsely_far_too_often(kind):
    # what the e-value guard prevents: the same looks with the posterior alone
    assert _at_margin_decisions(kind, guarded=False) > 0.2


# A written loss target: two pairs whose crossings of val loss 3.0 are known in closed form.
CROSSING = [  # (pre curve, post curve, pre steps to 3.0, post steps to 3.0)
    ([[0, 5.0], [10, 2.0], [20, 1.0], [30, 1.0]], [[0, 5.0], [10, 4.5], [20, 3.0], [30, 1.0]],
     10 * (5 - 3) / (5 - 2), 20.0),
    ([[0, 5.0], [10, 4.0], [20, 2.0], [30, 1.0]], [[0, 5.0], [10, 4.5], [20, 4.0], [30, 3.5]],
     10 + 10 * (4 - 3) / (4 - 2), 30.0),  # post never reaches 3.0: it counts its last step, max_steps
]


def _crossing_records():
    out = []
    for seed, (pre, post, _, _) in enumerate(CROSSING):
        out += [record(f"exp_{2 * seed + 1:04d}", "pre", seed, pre[-1][1], curve=pre),
                record(f"exp_{2 * seed + 2:04d}", "post", seed, post[-1][1], curve=post)]
    return out


def test_a_written_target_scores_every_pair_at_that_loss_the_first_included():
    from parser.checker import scoring
    from parser.checker.pairs import PairIndexes

    written = comparison(metric="steps_to_target", target=3.0)
    cells = comparison("p2", metric="steps_to_target")  # no target: the first pair sets the cell's
    indexes = PairIndexes()  # shared, as in a study: the two must not share one index
    verdicts = assess_all([written, cells], _crossing_records(), indexes=indexes)
    expected = [math.log(b / a) for _, _, a, b in CROSSING]  # the benefit: -log(pre/post)
    assert verdicts["p1"].n_pairs == 2
    assert verdicts["p1"].effect == pytest.approx(sum(expected) / 2, rel=1e-12)
    first = scoring.pair_target(CROSSING[0][0], CROSSING[0][1])
    own = [scoring.steps_to_target(pre, post, first) for pre, post, _, _ in CROSSING]
    assert verdicts["p2"].effect == pytest.approx(sum(math.log(b / a) for a, b in own) / 2, rel=1e-12)
    assert verdicts["p2"].effect != pytest.approx(verdicts["p1"].effect)

