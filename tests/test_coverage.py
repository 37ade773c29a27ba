"""A verdict on a region reads every level it spans, and a run that will stop early costs less.

A claim "20% faster at N < 5000" is a claim on the mean over the region's cells. The
checker decides nothing while a value of a factor that varies across the region's declared
cells has no pair (`planner.space.needed_levels`, `Evidence.missing`), and the planner
counts what a replicate in a cell whose loss target is set will train (`Ledger.seconds`).
"""
import math

import pytest

from bench.held_out import run as held_out
from bench.real_replay import cut
from parser.checker.evidence import Evidence, covered
from parser.checker.stats import Pooled
from parser.checker.verdicts import judge
from parser.design import cell_key
from parser.schema import Condition, Hypothesis
from planner.ledger import Ledger
from planner.offline import OfflinePlanner
from planner.space import Space, needed_levels
from tests.records import comparison, record
from trajectory.findings import finding
from trajectory.study import open_study

GRID = {"model": ["transformer_small"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
        "learning_rate": [1e-4, 3e-4], "dataset_fraction": [0.1, 1.0]}


def study_of(tmp_path, grid=GRID, predictions=None):
    h = Hypothesis(claim="pre-norm helps", predictions=predictions or [comparison("p1")], initial_config=grid)
    return open_study(tmp_path / "run", h, Space({k: list(v) for k, v in grid.items()}), "", resume=False)


def clear_pairs(cells, start=1, seed=0):
    """A clear pair (pre about 25% lower, by seed) in each (learning_rate, dataset_fraction) of `cells`."""
    out = []
    for i, (lr, fraction) in enumerate(cells):
        k = start + 2 * i
        out += [record(f"exp_{k:04d}", "pre", seed, 1.5 + 0.01 * i + 0.013 * seed, fraction, lr=lr),
                record(f"exp_{k + 1:04d}", "post", seed, 2.0, fraction, lr=lr)]
    return out


def test_the_levels_a_region_must_see_are_each_value_of_each_factor_it_spans():
    p = comparison("p1")
    need = needed_levels(p, {"p1": p}, Space(GRID))
    assert need == {("main", "learning_rate", 1e-4), ("main", "learning_rate", 3e-4),
                    ("main", "dataset_fraction", 0.1), ("main", "dataset_fraction", 1.0)}
    # a factor with one value inside the region asks for nothing; a cell that failed twice is left out
    small = comparison("p1", condition=Condition(variable="dataset_fraction", op="<", value=0.5))
    assert needed_levels(small, {"p1": small}, Space(GRID)) == {("main", "learning_rate", 1e-4),
                                                                ("main", "learning_rate", 3e-4)}
    failed = cell_key(dict(Space(GRID).cells("norm_position")[0]), "norm_position")
    assert ("main", "learning_rate", 1e-4) not in needed_levels(
        small, {"p1": small}, Space(GRID), lambda cell: 2 if cell == failed else 0)


def test_pairs_at_one_learning_rate_decide_nothing_until_the_other_has_one(tmp_path):
    study = study_of(tmp_path)
    for r in [r for seed in range(4) for r in clear_pairs([(3e-4, 0.1)], 1 + 2 * seed, seed)]:
        study.append(r)
    v = study.verdicts["p1"]
    assert v.status == "undecided" and v.confidence > 0.999 and v.evidence > 1e3 and v.n_pairs == 4
    found = finding(study.predictions[0], {"p1": study.predictions[0]}, study.records, v,
                    ["learning_rate", "dataset_fraction"], None, indexes=study.indexes.pairs)
    assert "first at " in found["to_decide"]["text"] and "learning_rate=0.0001" in found["to_decide"]["text"]
    assert "dataset_fraction=1.0" in found["to_decide"]["text"] and found["to_decide"]["pairs"] >= 1
    # one pair in the cell that holds both missing levels: every level seen, and it is decided
    for r in clear_pairs([(1e-4, 1.0)], 11, 0):
        study.append(r)
    assert study.verdicts["p1"].status == "confirmed"
    study.close()


def test_two_cells_on_the_diagonal_see_every_level_of_a_two_by_two_grid(tmp_path):
    study = study_of(tmp_path)
    for r in clear_pairs([(1e-4, 0.1), (3e-4, 1.0)]) + clear_pairs([(1e-4, 0.1), (3e-4, 1.0)], 5, 1):
        study.append(r)
    assert study.verdicts["p1"].status == "confirmed"  # not every combination: every level
    study.close()


def test_a_what_if_score_in_a_new_cell_clears_the_levels_it_holds():
    missing = frozenset({("main", "learning_rate", 1e-4), ("main", "dataset_fraction", 1.0)})
    ev = Evidence("mean", (1.0, 1.1, 0.9), Pooled(0.1, 2), cells=((("learning_rate", 3e-4),),) * 3,
                  missing=missing)
    assert judge(ev).status == "undecided" and judge(ev).confidence > 0.99
    new = (("dataset_fraction", 1.0), ("learning_rate", 1e-4))
    assert covered(missing, "main", new) == missing and covered(missing, "versus", new) == frozenset()
    assert ev.plus(1.0, cell=new).missing == frozenset() and ev.plus(1.0).missing == missing
    assert ev.to_open == 1  # one cell holds both missing levels


def test_the_planner_opens_the_missing_level_where_the_seen_one_is_replicated(tmp_path):
    small = comparison("p1", condition=Condition(variable="dataset_fraction", op="<", value=0.5))
    study = study_of(tmp_path, predictions=[small])
    for s in range(3):
        for r in clear_pairs([(3e-4, 0.1)], 1 + 2 * s, s):
            study.append(r)
    assert study.verdicts["p1"].status == "undecided"
    proposal = OfflinePlanner(max_runs=40).propose(study.predictions, study.verdicts, study.records, study.space,
                                                   (), study.indexes)
    assert {r["learning_rate"] for r in proposal.runs} == {1e-4}
    study.close()


def test_cells_that_differ_are_not_decided_on_the_one_the_planner_replicated():
    # the held-out case: pre-norm 0.45x at one learning rate, 0.9x at the other, 0.65x on average;
    # "20% faster" holds. Replicating the cheap cell alone once refuted it (draw 2: 0.905x over
    # 4 pairs of one cell, e-value 22.6); with every level read, every draw confirms.
    for draw in (2, 5):
        out = held_out("prenorm", draw)
        assert out["status"] == "confirmed"


def test_a_replicate_costs_the_share_of_its_steps_its_cell_took_to_reach_the_target():
    curve = [[0, 5.0], [100, 3.0], [200, 2.5], [300, 2.4]]
    ledger = Ledger()
    runs = [record(f"exp_{k:04d}", "pre", k, 2.4, curve=curve) for k in (1, 2)]
    for r in runs:
        r.wall_time_s = 30.0
    ledger.update(runs)
    point = {k: v for k, v in runs[0].config.items()}
    max_steps = runs[0].config["max_steps"]
    assert ledger.seconds(point) == pytest.approx(30.0)
    assert ledger.seconds(point, 2.6) == pytest.approx(30.0 * 200 / max_steps)  # reached 2.6 at step 200
    assert ledger.seconds(point, 1.0) == pytest.approx(30.0)  # never reached: a full run
    other = dict(point, learning_rate=1e-4)
    assert ledger.seconds(other, 2.6) == pytest.approx(30.0)  # a cell with no curve yet: a full run


def test_a_run_that_stopped_early_counts_as_the_full_run_it_was_cut_from():
    ledger = Ledger()
    r = record("exp_0001", "pre", 0, 2.4)
    r.wall_time_s, r.steps, r.stopped_early = 10.0, r.config["max_steps"] // 4, True
    ledger.update([r])
    assert ledger.seconds(dict(r.config)) == pytest.approx(40.0, rel=0.01)


def test_the_replay_cuts_a_banked_curve_where_the_trainer_would_have_stopped():
    m = {"val_curve": [[0, 5.0], [25, 4.0], [50, 3.0], [75, 2.9]], "final_val_loss": 2.9,
         "train_time_s": 3.0, "steps": 75}
    out = cut(m, 3.0, 75)
    assert out["val_curve"] == [[0, 5.0], [25, 4.0], [50, 3.0]] and out["steps"] == 50 and out["stopped_early"]
    assert out["train_time_s"] == pytest.approx(2.0) and out["final_val_loss"] == 3.0
    assert cut(m, 2.95, 75)["val_curve"] == m["val_curve"]  # reached only at the last evaluation
    assert cut(m, None, 75) == m and not math.isnan(cut(m, 2.0, 75)["train_time_s"])
