"""The planner benchmark's studies through the real loop: what the planner must keep doing."""
from bench.planners import fewest_pairs, fewest_runs, run_study, summarize
from bench.sim_cases import case
from parser.checker import stats


def study(index, planner, space="wide"):
    return run_study((index, planner, 40, space))


def test_where_most_of_the_grid_informs_nothing_the_planner_decides_in_fewer_runs_and_rightly():
    # study 0: a strong effect at small N that fades at large N; the wide space's
    # middle fraction and middle learning rate inform neither prediction
    mine, grid = study(0, "offline"), study(0, "grid")
    assert mine["all_decided"] and all(v["status"] == "confirmed" and v["truth"] == "true"
                                       for v in mine["verdicts"].values())
    # 22 runs: both regions must see each of the 3 learning rates (a verdict on a region reads
    # every level it spans), and replicates in a cell whose target is set cost less than a new
    # cell's first pair; the grid, walking 3 seeds a point in order, has not seen them all in 40
    assert mine["runs"] <= 24 and not grid["all_decided"] and grid["runs"] == 40


def test_a_prediction_one_pair_from_its_bound_is_finished_not_abandoned():
    # a weak effect that reverses at large N (study 26 of the 12-case bench, which once stopped
    # at 18 runs with both predictions at e-values of 17-18 of 20 and confidence past 0.99:
    # the last pair looked worthless to the planner); study 17 is that case with 15 cases
    out = study(17, "offline")
    assert out["stop"] == "every prediction is decided"
    assert {pid: v["status"] for pid, v in out["verdicts"].items()} == {"p1": "refuted", "p2": "confirmed"}
    assert all((v["status"] == "confirmed") == (v["truth"] == "true") for v in out["verdicts"].values())


def test_the_summary_leaves_out_of_the_ratio_a_study_only_one_planner_decides():
    outcomes = [study(17, "offline"), {**study(17, "grid"), "all_decided": False},
                study(12, "offline"), study(12, "grid"), study(12, "random"), study(17, "random")]
    s = summarize(outcomes)
    assert s["offline"]["n_ratio"] == 1 and s["offline"]["fully_decided_grid_not"] == 1
    assert s["grid"]["ratio_to_grid_median"] == 1.0


def test_the_floor_is_where_the_guard_first_can_pass_its_bound():
    # closed form: below these counts the e-value stays under E_BOUND for any t at all
    huge = 1e9
    assert stats.t_evalue(huge, 2, 1, 1) < stats.E_BOUND <= stats.t_evalue(huge, 3, 2, 1)
    assert fewest_pairs() == 3
    below = [stats.t_evalue(huge, 1 / (1 / a + 1 / b), a + b - 2, 1) for a, b in [(1, 2), (2, 1)]]
    assert max(below) < stats.E_BOUND
    assert fewest_pairs(two_sample=True) == 4
    # an interaction study needs 4 pairs (8 runs); two plain comparisons need 3 pairs
    assert fewest_runs(case(0)) == 8 and fewest_runs(case(6)) == 6


def test_the_planner_never_decides_a_study_below_the_floor_nor_past_the_full_grid():
    for index in (0, 6, 17):  # the studies decided fastest, in either space
        for space in ("quickstart", "wide"):
            out = study(index, "offline", space)
            assert out["all_decided"]
            assert out["floor"] <= out["runs"] <= out["grid_size"]
