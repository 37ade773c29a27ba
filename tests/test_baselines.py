"""Baseline planners: a grid walk in the user's order, and a reproducible random draw."""
from run_config import TrainConfig, to_dict
from parser.checker.verdicts import assess_all
from parser.design import cell_key, config_hash
from parser.schema import ResultRecord
from planner.baselines import GridPlanner, RandomPlanner
from planner.space import Space
from tests.records import comparison

GRID = {"model": ["transformer_small"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
        "learning_rate": [1e-4, 3e-4], "dataset_fraction": [0.1, 1.0]}


def ran(point: dict, k: int) -> ResultRecord:
    config = to_dict(TrainConfig(experiment_id=f"exp_{k:04d}", **point))
    return ResultRecord(experiment_id=config["experiment_id"], hypothesis_id="H1", config=config,
                        config_hash=config_hash(point), seed=point["seed"], status="completed",
                        metrics={"final_val_loss": 2.0})


def walk(planner, limit=100) -> list:
    """Run the planner to exhaustion, every proposal 'completed'; returns the proposals."""
    predictions, records, proposals = [comparison()], [], []
    while len(proposals) < limit:
        proposal = planner.propose(predictions, assess_all(predictions, records), records, Space(GRID))
        if proposal is None:
            return proposals
        proposals.append(proposal)
        records += [ran(point, len(records) + 1 + i) for i, point in enumerate(proposal.runs)]
    raise AssertionError("the planner never stopped")


def cell_of(run: dict) -> tuple:
    return (run["learning_rate"], run["dataset_fraction"])


def test_the_grid_walks_points_in_the_users_order():
    cells = [cell_of(p.runs[0]) for p in walk(GridPlanner())]
    assert cells == [(1e-4, 0.1)] * 3 + [(1e-4, 1.0)] * 3 + [(3e-4, 0.1)] * 3 + [(3e-4, 1.0)] * 3


def test_each_grid_proposal_pairs_both_arms_with_one_seed():
    for p in walk(GridPlanner()):
        assert [r["norm_position"] for r in p.runs] == ["pre", "post"]
        assert len({r["seed"] for r in p.runs}) == 1
        assert cell_of(p.runs[0]) == cell_of(p.runs[1])


def test_the_grid_stops_after_three_seeds_per_point():
    proposals = walk(GridPlanner())
    runs = [(r["norm_position"], cell_of(r), r["seed"]) for p in proposals for r in p.runs]
    assert len(runs) == len(set(runs)) == 8 * 3
    assert {r["seed"] for p in proposals for r in p.runs} == {0, 1, 2}


def test_the_random_planner_never_repeats_a_cell_and_seed():
    proposals = walk(RandomPlanner(seed=7, max_seeds=3))
    drawn = [(cell_of(p.runs[0]), p.runs[0]["seed"]) for p in proposals]
    assert len(drawn) == len(set(drawn)) == 4 * 3


def test_the_random_planner_is_reproducible_from_its_seed():
    order = lambda seed: [(cell_of(p.runs[0]), p.runs[0]["seed"]) for p in walk(RandomPlanner(seed))]  # noqa: E731
    assert order(1) == order(1)
    assert order(1) != order(2)


def test_random_proposals_pair_both_arms_of_one_cell_with_one_seed():
    p = walk(RandomPlanner(seed=3), limit=100)[0]
    assert [r["norm_position"] for r in p.runs] == ["pre", "post"]
    assert cell_key(p.runs[0], "norm_position") == cell_key(p.runs[1], "norm_position")
    assert p.runs[0]["seed"] == p.runs[1]["seed"]
