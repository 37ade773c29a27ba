from parser.schema import Condition
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
    p2 = interaction(condition=Condition(variable="n_train_samples", op=">", value=5000.0))
    by_id = {"p1": p1, "p2": p2}
    name, value, _ = extension(p2, by_id, Space(dict(GRID)))
    assert name == "seq_len" and value < 64


def test_a_reachable_condition_needs_no_extension():
    p = n_below(2000)
    assert extension(p, {"p1": p}, Space(dict(GRID))) is None
