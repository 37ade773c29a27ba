"""One region rule for the checker, the planner and the simulator's truth.

The case they once disagreed on: an interaction whose condition is on another
variable than its comparison's ("the effect in p1, which is about N < 1000, is
smaller at learning_rate = 3e-3"). It is read inside p1's region: a cell at
learning_rate = 3e-3 with N >= 1000 belongs to neither side.
"""
import math
from pathlib import Path

import pytest

from bench.truth import true_benefit, true_score
from parser.checker.evidence import gather
from parser.checker.regions import region, source_spec
from parser.hypothesis import load_hypothesis, search_space
from parser.schema import Condition, Prediction, PredictionSpec
from parser.sim_truth import Truth
from planner.offline import _region
from planner.space import Space
from tests.records import record

ROOT = Path(__file__).resolve().parent.parent
SMALL = Condition(variable="n_train_samples", op="<", value=1000)
AT_HIGH_LR = Condition(variable="learning_rate", op="==", value=3e-3)
P1 = Prediction(id="p1", text="p1", compiled_by="structured", spec=PredictionSpec(
    metric="final_val_loss", direction="lower", factor="norm_position", arm="pre", baseline="post",
    threshold=0.0, relative=True, condition=SMALL))
P2 = Prediction(id="p2", text="p2", compiled_by="structured", spec=PredictionSpec(
    kind="interaction", metric="final_val_loss", direction="lower", factor="norm_position", arm="pre",
    baseline="post", of="p1", condition=AT_HIGH_LR))
BY_ID = {"p1": P1, "p2": P2}
# (learning_rate, dataset_fraction) -> the side of p2 it falls on; fraction 0.1 gives N = 308
EXPECTED = {(1e-3, 0.1): "main", (3e-3, 0.1): "versus", (1e-3, 1.0): None, (3e-3, 1.0): None}


def cells() -> list[dict]:
    return Space(search_space(load_hypothesis(ROOT / "examples" / "quickstart.yaml"))).cells("norm_position")


def side(cell: dict) -> tuple:
    return cell["learning_rate"], cell["dataset_fraction"]


def test_the_interactions_source_is_the_comparison_it_names():
    assert source_spec(P2, BY_ID) is P1.spec and source_spec(P1, BY_ID) is P1.spec


def test_a_condition_on_another_variable_is_read_inside_the_comparisons_region():
    n = {0.1: 308, 1.0: 3076}
    for (lr, fraction), expected in EXPECTED.items():
        values = {"learning_rate": lr, "n_train_samples": n[fraction]}
        assert region(P2.spec, P1.spec, lambda c: c is None or c.holds(values[c.variable])) == expected


def test_the_planner_places_each_cell_where_the_checker_will_count_it():
    space = Space(search_space(load_hypothesis(ROOT / "examples" / "quickstart.yaml")))
    assert {side(c): _region(P2, P1.spec, c, space) for c in cells()} == EXPECTED


def test_the_checker_scores_each_side_only_from_its_own_cells():
    losses = {(1e-3, 0.1): (1.9, 2.0), (3e-3, 0.1): (1.8, 2.0), (1e-3, 1.0): (1.0, 2.0), (3e-3, 1.0): (1.0, 2.0)}
    records, k = [], 0
    for (lr, fraction), (pre, post) in losses.items():
        n = 308 if fraction == 0.1 else 3076
        for arm, loss in (("pre", pre), ("post", post)):
            k += 1
            records.append(record(f"exp_{k:04d}", arm, 0, loss, fraction, lr=lr, n=n))
    ev = gather(P2, BY_ID, records)
    margin = math.log(1.05)  # the interaction's default practical margin, taken off the reference side
    assert ev.scores == pytest.approx((-math.log(1.9 / 2.0) - margin,))
    assert ev.versus == pytest.approx((-math.log(1.8 / 2.0),))


def test_the_truth_averages_the_cells_the_checker_counts():
    # pre-norm helps only at N >= 1000, so on p2's two sides (both at N = 308) it does nothing:
    # p2's true score is minus its margin (no drop at all); counting the large-N, high-lr cell as "smaller there" would make it negative
    truth = Truth.model_validate({
        "curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3076},
        "effects": [{"on": "floor", "factor": "norm_position", "levels": {"pre": -0.2},
                     "where": "n_train_samples >= 1000"}]})
    big_high_lr = next(c for c in cells() if side(c) == (3e-3, 1.0))
    assert true_benefit(truth, P1.spec, big_high_lr) > 0.1
    assert true_score(truth, P2, BY_ID, cells()) == pytest.approx(-math.log(1.05), abs=1e-12)
