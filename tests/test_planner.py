from parser.checker.verdicts import assess_all
from parser.schema import Condition
from planner.offline import OfflinePlanner
from planner.space import Space, unreachable_reason
from tests.records import comparison, interaction, pairs, record

GRID = {"model": ["transformer_small"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
        "learning_rate": [1e-4, 3e-4], "dataset_fraction": [0.1, 1.0]}
SMALL = Condition(variable="dataset_fraction", op="<", value=0.5)


def propose(predictions, records, **kw):
    verdicts = assess_all(predictions, records)
    return OfflinePlanner(**kw).propose(predictions, verdicts, records, Space(GRID))


def test_a_proposal_is_both_arms_of_one_cell_with_one_seed():
    proposal = propose([comparison()], [])
    arms = [r["norm_position"] for r in proposal.runs]
    assert arms == ["pre", "post"]
    assert len({r["seed"] for r in proposal.runs}) == 1
    assert {k: v for k, v in proposal.runs[0].items() if k != "norm_position"} == \
           {k: v for k, v in proposal.runs[1].items() if k != "norm_position"}


def test_proposals_stay_inside_the_prediction_condition():
    proposal = propose([comparison(condition=SMALL)], [])
    assert all(r["dataset_fraction"] == 0.1 for r in proposal.runs)


def test_a_cell_gets_its_second_seed_before_the_next_cell_its_first():
    # two seeds in a cell measure the seed noise; then the replicates spread over the cells
    cell = lambda r: (r["learning_rate"], r["dataset_fraction"])
    done, seen = [], []
    for k in range(3):
        proposal = propose([comparison()], done)
        run = proposal.runs[0]
        seen.append((cell(run), run["seed"]))
        done += [record(f"exp_{2 * k + 1:04d}", "pre", run["seed"], 1.5 + 0.1 * k,
                        run["dataset_fraction"], run["learning_rate"]),
                 record(f"exp_{2 * k + 2:04d}", "post", run["seed"], 2.0, run["dataset_fraction"],
                        run["learning_rate"])]
    (first, s0), (second, s1), (third, s2) = seen
    assert second == first and s1 != s0
    assert third != first and s2 == s0


def test_a_half_finished_pair_is_finished_first():
    done = [record("exp_0001", "pre", 3, 1.5)]
    proposal = propose([comparison()], done)
    assert [r["norm_position"] for r in proposal.runs] == ["post"]
    assert proposal.runs[0]["seed"] == 3
    assert proposal.pair == "exp_0001"


def test_the_least_certain_prediction_is_targeted():
    decided = pairs([(1.0, 2.0), (1.01, 2.0), (0.99, 2.0), (1.0, 2.0)])
    big = Condition(variable="dataset_fraction", op=">", value=0.5)
    proposal = propose([comparison("p1", condition=SMALL), comparison("p2", condition=big)], decided)
    assert proposal.targets == ["p2"]
    assert all(r["dataset_fraction"] == 1.0 for r in proposal.runs)


def test_nothing_is_proposed_once_every_cell_has_all_its_seeds():
    records = []
    for lr in (1e-4, 3e-4):
        for seed in range(2):
            records += [record(f"a{lr}{seed}", "pre", seed, 1.9, 0.1, lr),
                        record(f"b{lr}{seed}", "post", seed, 2.0, 0.1, lr)]
    assert propose([comparison(condition=SMALL, threshold=0.05)], records, max_seeds=2) is None


def test_a_cell_that_keeps_failing_is_left_alone():
    records = [record("exp_0001", "pre", 0, fraction=0.1, lr=1e-4, status="failed"),
               record("exp_0002", "pre", 1, fraction=0.1, lr=1e-4, status="failed")]
    proposal = propose([comparison(condition=SMALL)], records)
    assert proposal.runs[0]["learning_rate"] == 3e-4


def test_an_interaction_goes_to_its_empty_region():
    small = pairs([(1.0, 2.0), (1.01, 2.0), (0.99, 2.0), (1.0, 2.0), (1.02, 2.0)], fraction=0.1)
    p1 = comparison(condition=SMALL)
    p2 = interaction(condition=Condition(variable="dataset_fraction", op=">", value=0.5))
    proposal = propose([p1, p2], small)
    assert proposal.runs[0]["dataset_fraction"] == 1.0


def test_a_condition_no_config_reaches_is_reported_with_the_values_seen():
    p = comparison(condition=Condition(variable="dataset_fraction", op=">", value=2.0))
    reason = unreachable_reason(p, {"p1": p}, Space(GRID))
    assert "dataset_fraction > 2" in reason and "[0.1, 1.0]" in reason


def test_a_thousand_candidates_are_all_ranked():
    # (how long it takes is measured by bench/loop_cost.py, not asserted: tests don't time the machine)
    grid = dict(GRID, learning_rate=[i * 1e-4 for i in range(1, 26)],
                dataset_fraction=[i / 20 for i in range(1, 21)], weight_decay=[0.0, 0.1])
    records = pairs([(1.5, 2.0), (1.6, 2.0)], fraction=0.05, n=1000)
    predictions = [comparison(), comparison("p2", condition=SMALL)]
    verdicts = assess_all(predictions, records)
    planner = OfflinePlanner()
    ranked = planner.rank(predictions, {p.id: p for p in predictions}, records, Space(grid))
    assert len(ranked) >= 1000


def test_a_decided_prediction_gets_no_more_runs():
    decided = pairs([(1.0, 2.0), (1.01, 2.0), (0.99, 2.0), (1.0, 2.0), (1.02, 2.0)])
    assert assess_all([comparison()], decided)["p1"].status == "confirmed"
    assert propose([comparison()], decided) is None


def test_a_candidate_informing_two_predictions_is_worth_both():
    big = Condition(variable="dataset_fraction", op=">", value=0.5)
    p1, p2 = comparison("p1"), comparison("p2", condition=big)
    proposal = propose([p1, p2], [])
    assert proposal.runs[0]["dataset_fraction"] == 1.0  # informs p1 and p2, not p1 alone
    assert sorted(proposal.targets) == ["p1", "p2"]


def test_the_rationale_states_the_expected_gain_and_cost():
    proposal = propose([comparison()], [])
    assert "expected gain" in proposal.rationale and proposal.gain > 0
