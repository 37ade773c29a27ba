"""The study never stops for "nothing left" while its budget could still decide a prediction."""
import contextlib
import io
import math

import yaml

import loop
from executor.sim import SimExecutor
from parser.checker.verdicts import assess_all
from parser.ranges import FactorRange
from parser.schema import Condition, Prediction, PredictionSpec
from parser.sim_truth import Truth
from planner.offline import OfflinePlanner
from planner.space import Space
from tests.records import pairs
from tests.test_planner import GRID

EQUIVALENCE = Prediction(id="p1", text="no difference within 3%", compiled_by="structured",
                         spec=PredictionSpec(kind="equivalence", factor="norm_position", arm="pre",
                                             baseline="post", threshold=0.03))
# four pairs about 5% apart around no difference against a 3% margin: short of the guard, and
# beyond the gain's look-ahead (at 1% apart the pairs' own noise, no longer a 10% prior, puts
# a decision within the look-ahead)
NEAR_EQUAL = pairs([(2.0 * math.exp(5 * y), 2.0) for y in (0.0176, -0.0057, -0.0069, 0.0044)])


def _propose(max_runs):
    verdicts = assess_all([EQUIVALENCE], NEAR_EQUAL)
    assert verdicts["p1"].status == "undecided"
    planner = OfflinePlanner(max_runs=max_runs)
    return planner, verdicts, planner.propose([EQUIVALENCE], verdicts, NEAR_EQUAL, Space(GRID))


def test_a_prediction_the_budget_can_still_decide_gets_another_run():
    _, _, proposal = _propose(max_runs=40)
    assert proposal is not None and proposal.targets == ["p1"]
    assert "can still be decided" in proposal.rationale


def test_with_no_runs_left_the_stop_reason_says_the_budget_is_too_small():
    planner, verdicts, proposal = _propose(max_runs=len(NEAR_EQUAL))
    assert proposal is None
    why = planner.why_open([EQUIVALENCE], verdicts, NEAR_EQUAL, Space(GRID))
    assert why.startswith("p1: the budget is too small for the noise") and "0 runs left" in why


def test_a_prediction_whose_cells_have_every_seed_is_out_of_reach_by_max_seeds():
    planner = OfflinePlanner(max_seeds=1, max_runs=40)
    verdicts = assess_all([EQUIVALENCE], NEAR_EQUAL[:2])
    cells = dict(GRID, learning_rate=[3e-4], dataset_fraction=[0.1])  # the one cell the pairs are in
    assert planner.propose([EQUIVALENCE], verdicts, NEAR_EQUAL[:2], Space(cells)) is None
    assert "--max-seeds" in planner.why_open([EQUIVALENCE], verdicts, NEAR_EQUAL[:2], Space(cells))


def test_a_range_has_room_past_max_seeds_and_runs_a_value_it_did_not_hold_next():
    # the same saturated cell, but dataset_fraction is a declared range: the range can always
    # take another value, so the planner runs one (the farthest from those held) instead of stopping
    planner = OfflinePlanner(max_seeds=1, max_runs=40)
    verdicts = assess_all([EQUIVALENCE], NEAR_EQUAL[:2])
    cells = dict(GRID, learning_rate=[3e-4], dataset_fraction=[0.1])
    space = Space(cells, ranges={"dataset_fraction": FactorRange(low=0.02, high=1.0, log=True)})
    proposal = planner.propose([EQUIVALENCE], verdicts, NEAR_EQUAL[:2], space)
    assert proposal is not None and proposal.targets == ["p1"]
    fractions = {r["dataset_fraction"] for r in proposal.runs}
    assert fractions == {1.0}  # farthest from 0.1 in log: the top end (0.02 is nearer)
    assert {r["norm_position"] for r in proposal.runs} == {"pre", "post"} and {r["seed"] for r in proposal.runs} == {0}
    assert "--max-seeds" not in planner.why_open([EQUIVALENCE], verdicts, NEAR_EQUAL[:2], space)


def test_a_fresh_range_value_stays_inside_the_predictions_region():
    # "at dataset_fraction < 0.5": the range's room there is below 0.5, not at its top end
    inside = EQUIVALENCE.model_copy(update={"spec": EQUIVALENCE.spec.model_copy(update={
        "condition": Condition(variable="dataset_fraction", op="<", value=0.5)})})
    planner = OfflinePlanner(max_seeds=1, max_runs=40)
    verdicts = assess_all([inside], NEAR_EQUAL[:2])
    space = Space(dict(GRID, learning_rate=[3e-4], dataset_fraction=[0.1]),
                  ranges={"dataset_fraction": FactorRange(low=0.01, high=1.0, log=True)})
    proposal = planner.propose([inside], verdicts, NEAR_EQUAL[:2], space)
    assert proposal is not None
    (fraction,) = {r["dataset_fraction"] for r in proposal.runs}
    assert fraction < 0.5 and space.in_range("dataset_fraction", fraction) == fraction


def test_an_equivalence_with_budget_left_ends_confirmed_not_given_up(tmp_path):
    # the study: true difference 0, about 1% seed noise, a 3% margin, 40 runs
    hypothesis = {"hypothesis": {"name": "eq", "claim": "norm position does not matter",
                                 "predictions": ["No difference in final val loss between pre-norm and "
                                                 "post-norm within 3%"],
                                 "initial_config": {"model": "transformer_tiny", "dataset": "synthetic",
                                                    "norm_position": ["pre", "post"],
                                                    "learning_rate": [1e-3, 3e-3],
                                                    "dataset_fraction": [0.1, 1.0], "max_steps": 300}}}
    truth = Truth.model_validate({"curve": {"initial": 5.0, "floor": 2.0, "tau": 60},
                                  "n_train_samples": {"per_fraction": 3076}, "effects": [],
                                  "noise": {"tau_shared": 0.05, "tau_arm": 0.08, "floor_shared": 0.005,
                                            "floor_arm": 0.007, "draw": 1}})
    source = tmp_path / "h.yaml"
    source.write_text(yaml.safe_dump(hypothesis))
    args = loop.parse_args(["--hypothesis", str(source), "--executor", "sim", "--max-experiments", "40",
                            "--out", str(tmp_path / "run")])
    study = loop.open_from_args(args)
    planner = OfflinePlanner(args.max_seeds, args.seed, args.max_experiments)
    with contextlib.redirect_stdout(io.StringIO()):
        reason = loop.research(study, planner, SimExecutor(truth), loop.LoopOptions.from_args(args))
    assert reason == "every prediction is decided"
    assert study.verdicts["p1"].status == "confirmed" and len(study.records) <= 40
