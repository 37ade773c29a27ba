"""The model registry and the transformer it builds."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import models
import run_config
from run_config import TrainConfig


def build(name="transformer_tiny", seed=0, **kwargs):
    torch.manual_seed(seed)
    return models.build(TrainConfig(model=name, seq_len=12, **kwargs), 16).eval()


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_unknown_model_error_lists_the_valid_names():
    with pytest.raises(ValueError, match="transformer_small, transformer_tiny"):
        models.build(TrainConfig(model="gpt5", seq_len=8), 16)


def test_describe_unknown_model_also_lists_the_valid_names():
    with pytest.raises(ValueError, match="valid models"):
        models.describe("nope")


def test_importing_the_registries_does_not_import_torch():
    code = "import sys, models, datasets; sys.exit('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_same_seed_gives_identical_weights():
    a, b = build(seed=3), build(seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_pre_and_post_norm_share_init_but_give_different_outputs():
    pre, post = build(norm_position="pre"), build(norm_position="post")
    shared = dict(post.named_parameters())
    assert all(torch.equal(p, shared[n]) for n, p in pre.named_parameters() if n in shared)
    idx = torch.randint(0, 16, (2, 12))
    assert not torch.allclose(pre(idx), post(idx))


def test_an_unknown_norm_position_is_refused_where_the_config_is_read():
    with pytest.raises(ValueError, match="norm_position: 'sandwich' is not one of 'pre', 'post'"):
        run_config.check(TrainConfig(norm_position="sandwich"))


def test_parameter_counts_match_the_documented_numbers():
    torch.manual_seed(0)
    small = models.build(TrainConfig(model="transformer_small", seq_len=256), 256)
    assert count(small) == 3_290_624 == models.describe("transformer_small")["n_params_vocab256_seq256"]
    assert models.describe("transformer_tiny")["n_params_vocab256_seq256"] == 41_856


@pytest.mark.parametrize("overrides", [{}, {"n_layer": 3}, {"d_model": 48}, {"norm_position": "post"}])
def test_parameter_formula_matches_the_built_model(overrides):
    assert count(build(**overrides)) == models.n_params(TrainConfig(model="transformer_tiny", seq_len=12, **overrides), 16)


def test_d_model_not_divisible_by_heads_is_rejected():
    with pytest.raises(ValueError, match="n_head=2"):
        build(d_model=33)


def test_logits_have_vocab_width_for_shorter_sequences():
    assert build()(torch.zeros(3, 5, dtype=torch.long)).shape == (3, 5, 16)
