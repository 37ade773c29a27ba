"""A run's identity in the design, and the `config_hash` the log records for it."""
from run_config import TrainConfig, to_dict
from parser.design import cell_key, config_hash, pair_key, point_key, run_key


def config(**factors) -> dict:
    return to_dict(TrainConfig(**factors))


def test_plumbing_and_factors_at_their_default_do_not_change_a_design_point():
    plain = config(learning_rate=1e-3)
    moved = config(learning_rate=1e-3, experiment_id="exp_0009", device="cpu", data_dir="/data")
    assert point_key(plain) == point_key(moved) and point_key(plain) == (("learning_rate", 1e-3),)


def test_the_two_arms_of_a_pair_share_cell_and_seed_but_not_their_design_point():
    pre, post = config(norm_position="pre", seed=3), config(norm_position="post", seed=3)
    assert pair_key(pre, "norm_position") == pair_key(post, "norm_position")
    assert cell_key(pre, "norm_position") == cell_key(post, "norm_position")
    assert run_key(pre) != run_key(post)


def test_config_hash_names_the_design_point_and_the_seed_stays_apart():
    a, b = config(learning_rate=1e-3, seed=0), config(learning_rate=1e-3, seed=1, experiment_id="x")
    assert config_hash(a) == config_hash(b) != config_hash(config(learning_rate=3e-3))
    assert run_key(a) != run_key(b)
