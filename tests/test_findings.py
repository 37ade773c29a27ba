"""trajectory/findings.py: each prediction's result in its own terms, per cell, and what would settle it."""
import pytest

from parser.checker.verdicts import assess_all
from parser.schema import Condition
from tests.records import comparison, interaction, pairs
from trajectory import findings

VARYING = ["norm_position", "learning_rate", "dataset_fraction"]


def found(predictions, records):
    by_id = {p.id: p for p in predictions}
    verdicts = assess_all(predictions, records)
    return {p.id: findings.finding(p, by_id, records, verdicts[p.id], VARYING, 10.0) for p in predictions}


def test_each_cell_shows_its_pairs_with_their_own_ratio():
    p1 = comparison(threshold=0.2)
    f = found([p1], pairs([(1.5, 2.0), (1.0, 2.0)]))["p1"]
    (cell,) = f["cells"]
    assert cell["cell"] == {"learning_rate": 0.0003, "dataset_fraction": 0.1} and cell["n"] == 2
    assert [pair["value"] for pair in cell["pairs"]] == pytest.approx([0.75, 0.5])
    assert [pair["ids"] for pair in cell["pairs"]] == [["exp_0001", "exp_0002"], ["exp_0003", "exp_0004"]]


def test_an_open_comparison_says_how_many_more_pairs_runs_and_seconds_would_decide_it():
    p1 = comparison(threshold=0.2)
    f = found([p1], pairs([(1.5, 2.0), (1.6, 2.0)]))["p1"]
    todo = f["to_decide"]
    assert todo["pairs"] >= 1 and todo["runs"] == 2 * todo["pairs"] and todo["seconds"] == 10.0 * todo["runs"]
    assert todo["text"].startswith(f"about {todo['pairs']} more pairs ({todo['runs']} runs")
    assert "learning_rate=0.0003, dataset_fraction=0.1 (2)" in todo["text"]


def test_a_decided_prediction_needs_nothing_more():
    p1 = comparison(threshold=0.0)
    f = found([p1], pairs([(1.5, 2.0), (1.49, 2.0), (1.51, 2.0), (1.5, 2.0), (1.5, 2.01)]))["p1"]
    assert f["to_decide"] is None and f["text"].startswith("pre/post final_val_loss 0.75×")


def test_an_untested_prediction_needs_at_least_the_guards_floor():
    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op=">", value=5000))
    f = found([p1], pairs([(1.5, 2.0)]))["p1"]
    assert f["effect"] is None and f["to_decide"]["text"].startswith("at least 3 pairs (6 runs")


def test_an_estimate_at_the_threshold_is_said_to_be_out_of_reach():
    p1 = comparison(threshold=0.25)
    f = found([p1], pairs([(1.45, 2.0), (1.55, 2.0)]))["p1"]  # mean ratio 0.75: on the threshold
    assert f["to_decide"]["pairs"] is None and "sits at the threshold" in f["to_decide"]["text"]


def test_a_refuted_interaction_reports_both_regions_and_a_plain_sentence():
    p1, p2 = comparison(), interaction(condition=Condition(variable="n_train_samples", op=">", value=5000))
    records = pairs([(1.5, 2.0), (1.5, 2.0)]) + pairs([(1.2, 2.0), (1.21, 2.0)], fraction=1.0, n=10000, start=5)
    f = found([p1, p2], records)["p2"]
    assert [c["region"] for c in f["cells"]] == ["n_train_samples <= 5000", "n_train_samples > 5000"]
    assert f["effect"]["reference"]["estimate"] == pytest.approx(0.75, abs=1e-6)
    assert f["effect"]["there"]["estimate"] == pytest.approx(0.6025, abs=1e-3)
    assert f["sentence"].startswith("the effect is not smaller where n_train_samples > 5000: "
                                    "0.60× where n_train_samples > 5000 vs 0.75× where n_train_samples <= 5000")


def test_trajectory_json_carries_the_found_effect_beside_the_internal_score(tmp_path):
    from parser.schema import Hypothesis
    from trajectory import graph
    p1 = comparison(threshold=0.2)
    h = Hypothesis(claim="c", predictions=[p1], initial_config={"norm_position": ["pre", "post"]})
    records = pairs([(1.5, 2.0), (1.5, 2.0)])
    g = graph.build([h], records, assess_all([p1], records), [])
    (p,) = g["predictions"]
    assert p["effect"] > 0 and p["found"]["effect"]["estimate"] == pytest.approx(0.75)


def test_a_written_target_that_a_run_never_reached_is_a_caveat_on_the_finding():
    from tests.records import record

    def pair(seed, pre_end, post_end):  # val curves from 5.0 at step 0 to their end at step 100 and 200
        curves = {"pre": [[0, 5.0], [100, pre_end], [200, pre_end]], "post": [[0, 5.0], [100, 3.0], [200, post_end]]}
        return [record(f"exp_{2 * seed + i + 1:04d}", norm, seed, curves[norm][-1][1], curve=curves[norm])
                for i, norm in enumerate(("pre", "post"))]

    p1 = comparison(metric="steps_to_target", threshold=0.2, target=2.5)
    reached = pair(0, 2.4, 2.4) + pair(1, 2.3, 2.45)
    assert found([p1], reached)["p1"]["caveat"] is None
    short = reached + pair(2, 2.35, 2.6)  # post ends at 2.6: it never reached 2.5
    assert found([p1], short)["p1"]["caveat"].startswith("in 1 of 3 pairs a run never reached val loss 2.5;")
    assert found([comparison(threshold=0.2)], short)["p1"]["caveat"] is None  # no written target
