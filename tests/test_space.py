from parser.schema import Condition
from parser.ranges import FactorRange
from planner.space import Space, extension, unreachable_reason
from tests.records import comparison, interaction

GRID = {"model": ["transformer_tiny"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
        "dataset_fraction": [0.5, 1.0], "seq_len": [64]}  # synthetic: N = 1538 and 3076


def n_below(x):
    return comparison(condition=Condition(variable="n_train_samples", op="<", value=float(x)))


def test_n_is_known_before_a_run_from_the_dataset_size():
    point = Space(GRID).cells("norm_position")[0]
    assert Space(GRID).expected_value(point, "n_train_samples") == 1538


def test_n_is_learned_from_a_finished_run_when_the_registry_does_not_know_it():
    space = Space({**GRID, "dataset": ["wikitext-2"]})
    point = space.cells("norm_position")[0]
    assert space.expected_value(point, "n_train_samples") is None
    space.observe(dict(point, dataset_fraction=1.0), {"n_train_samples": 1000})
    assert space.expected_value(point, "n_train_samples") == 500


def test_an_unreachable_small_n_is_reached_with_a_smaller_fraction():
    p = n_below(1000)
    space = Space(dict(GRID))
    assert unreachable_reason(p, {"p1": p}, space)
    name, value, why = extension(p, {"p1": p}, space)
    assert name == "dataset_fraction" and value < 0.5
    space.grid[name].append(value)
    assert unreachable_reason(p, {"p1": p}, space) is None
    assert "n_train_samples < 1000" in why


def test_an_unreachable_large_n_is_reached_with_shorter_sequences():
    p1 = n_below(2000)
    p2 = interaction(condition=Condition(variable="n_train_samples", op=">", value=4000.0))
    by_id = {"p1": p1, "p2": p2}
    space = Space(dict(GRID))
    name, value, _ = extension(p2, by_id, space)
    assert name == "seq_len" and 32 <= value < 64
    space.grid[name] = space.values(name) + [value]
    assert unreachable_reason(p2, by_id, space) is None


def test_no_extension_turns_the_task_into_another_one():
    p1 = n_below(2000)
    p2 = interaction(condition=Condition(variable="n_train_samples", op=">", value=50000.0))
    assert extension(p2, {"p1": p1, "p2": p2}, Space(dict(GRID))) is None  # would need seq_len 2


def test_a_factor_the_grid_leaves_out_keeps_its_default_when_extended():
    grid = {k: v for k, v in GRID.items() if k != "seq_len"}
    assert Space(grid).values("seq_len") == [256]


def test_a_reachable_condition_needs_no_extension():
    p = n_below(2000)
    assert extension(p, {"p1": p}, Space(dict(GRID))) is None


def test_a_fresh_range_value_is_the_one_farthest_from_those_held():
    ranges = {"dataset_fraction": FactorRange(low=0.01, high=1.0, log=True)}
    space = Space({"dataset_fraction": [0.01, 1.0]}, ranges=ranges)
    assert space.fresh("dataset_fraction")[0] == 0.1  # the middle of the range in log
    space = Space({"dataset_fraction": [0.01, 0.1, 1.0]}, ranges=ranges)
    assert set(space.fresh("dataset_fraction")[:2]) == {0.03162, 0.3162}  # the two gaps' middles
    assert space.fresh("dataset_fraction", lambda v: v > 0.2)[0] == 0.3162
    assert space.fresh("learning_rate") == []  # a list factor has no room beyond its values


def test_a_full_integer_range_has_no_fresh_value():
    span = FactorRange(low=1, high=4, step=1, integer=True)
    assert Space({"n_layer": [1, 2, 3, 4]}, ranges={"n_layer": span}).fresh("n_layer") == []
    assert Space({"n_layer": [1, 4]}, ranges={"n_layer": span}).fresh("n_layer") == [2, 3]
