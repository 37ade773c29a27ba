"""The transformer's architecture flags: norm_type, activation, pos_encoding, qk_norm, n_head."""
import pytest
import torch

import models
import run_config
from models import transformer as tf
from run_config import TrainConfig

VARIANTS = [{"norm_type": "rmsnorm"}, {"activation": "relu"}, {"activation": "swiglu"},
            {"pos_encoding": "rope"}, {"qk_norm": True}, {"n_head": 4}]
SHARES_INIT = [v for v in VARIANTS if v != {"activation": "swiglu"}]


def build(seed=0, **kwargs):
    torch.manual_seed(seed)
    return models.build(TrainConfig(model="transformer_tiny", seq_len=12, **kwargs), 16).eval()


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("flags", [*VARIANTS, {"norm_type": "rmsnorm", "norm_position": "post"},
                                   {"activation": "swiglu", "d_model": 48, "n_layer": 3},
                                   {"pos_encoding": "rope", "n_head": 8, "norm_position": "post"},
                                   {"norm_type": "rmsnorm", "activation": "swiglu", "pos_encoding": "rope"}])
def test_the_parameter_formula_counts_every_variant_exactly(flags):
    assert count(build(**flags)) == models.n_params(TrainConfig(model="transformer_tiny", seq_len=12, **flags), 16)


def test_documented_counts_of_the_small_model_variants():
    counts = {k: models.n_params(TrainConfig(model="transformer_small", seq_len=256, **{k[0]: k[1]}), 256)
              for k in [("norm_type", "rmsnorm"), ("activation", "relu"), ("activation", "swiglu"),
                        ("pos_encoding", "rope")]}
    assert counts == {("norm_type", "rmsnorm"): 3_288_320, ("activation", "relu"): 3_290_624,
                      ("activation", "swiglu"): 3_308_416, ("pos_encoding", "rope"): 3_225_088}


@pytest.mark.parametrize("d_model, hidden", [(32, 88), (48, 128), (256, 688), (768, 2048)])
def test_swiglu_hidden_is_eight_thirds_of_d_rounded_up_to_a_multiple_of_8(d_model, hidden):
    assert models.swiglu_hidden(d_model) == hidden
    assert hidden % 8 == 0 and 0 <= hidden - 8 * d_model / 3 < 8


@pytest.mark.parametrize("flags", SHARES_INIT)
def test_a_variant_shares_every_same_shaped_tensor_with_the_default_but_changes_the_output(flags):
    default, variant = build(), build(**flags)
    shared = dict(default.named_parameters())
    same_shape = [(n, p) for n, p in variant.named_parameters() if n in shared and shared[n].shape == p.shape]
    assert len(same_shape) >= 10
    assert all(torch.equal(p, shared[n]) for n, p in same_shape)
    idx = torch.randint(0, 16, (2, 12))
    with torch.no_grad():
        assert not torch.allclose(default(idx), variant(idx))


@pytest.mark.parametrize("flags", [{}, {"norm_position": "post"}, *VARIANTS])
def test_changing_a_future_token_leaves_earlier_logits_unchanged(flags):
    model = build(**flags)
    idx = torch.randint(0, 16, (1, 12))
    changed = idx.clone()
    changed[0, 7] = (idx[0, 7] + 1) % 16
    with torch.no_grad():
        before, after = model(idx), model(changed)
    assert torch.equal(before[:, :7], after[:, :7])
    assert not torch.allclose(before[:, 7:], after[:, 7:])


@pytest.mark.parametrize("flags", VARIANTS)
def test_shorter_sequences_give_vocab_wide_logits(flags):
    assert build(**flags)(torch.zeros(3, 5, dtype=torch.long)).shape == (3, 5, 16)


@pytest.mark.parametrize("flag, value", [("norm_type", "batchnorm"), ("activation", "tanh"),
                                         ("pos_encoding", "alibi"), ("qk_norm", "yes")])
def test_an_unknown_flag_value_is_refused_where_the_config_is_read_naming_the_flag(flag, value):
    with pytest.raises(ValueError, match=f"{flag}: {value!r} is not one of"):
        run_config.check(TrainConfig(**{flag: value}))


# --- norm_type ---------------------------------------------------------------------

def test_rmsnorm_has_no_biases_and_scales_to_unit_rms_without_centring():
    model = build(norm_type="rmsnorm")
    assert not [n for n in dict(model.named_parameters()) if "ln" in n and n.endswith("bias")]
    x = torch.randn(4, 32) * 3 + 5
    with torch.no_grad():
        y, centred = model.blocks[0].ln1(x), build().blocks[0].ln1(x)
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(4), atol=1e-4)
    assert y.mean(-1).min() > 0.5  # the shift survives: no mean subtraction
    assert torch.allclose(centred.mean(-1), torch.zeros(4), atol=1e-5)


def test_the_fallback_rmsnorm_matches_torchs_own():
    x = torch.randn(3, 5, 32)
    ours, theirs = tf._RMSNorm(32, tf.NORM_EPS), torch.nn.RMSNorm(32, eps=tf.NORM_EPS)
    with torch.no_grad():
        ours.weight.uniform_()
        theirs.weight.copy_(ours.weight)
        assert torch.allclose(ours(x), theirs(x), atol=1e-6)


# --- activation --------------------------------------------------------------------

def test_relu_mlp_is_positively_homogeneous_at_init_and_gelu_is_not():
    # Biases start at zero, so mlp(a x) = a mlp(x) for a > 0 holds exactly for relu only.
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        relu, gelu = build(activation="relu").blocks[0].mlp, build().blocks[0].mlp
        assert torch.allclose(relu(3 * x), 3 * relu(x), atol=1e-6)
        assert not torch.allclose(gelu(3 * x), 3 * gelu(x), atol=1e-4)


def test_swiglu_gates_a_value_projection_with_silu():
    mlp = build(activation="swiglu").blocks[0].mlp
    hidden = models.swiglu_hidden(32)
    assert mlp.fc.weight.shape == (2 * hidden, 32) and mlp.proj.weight.shape == (32, hidden)
    x = torch.randn(2, 5, 32)
    w_gate, w_value = mlp.fc.weight[:hidden], mlp.fc.weight[hidden:]
    b_gate, b_value = mlp.fc.bias[:hidden], mlp.fc.bias[hidden:]
    expected = (torch.nn.functional.silu(x @ w_gate.T + b_gate) * (x @ w_value.T + b_value)) @ mlp.proj.weight.T
    with torch.no_grad():
        assert torch.allclose(mlp(x), expected + mlp.proj.bias, atol=1e-6)


# --- pos_encoding ------------------------------------------------------------------

def test_a_rope_model_has_no_position_table():
    names = [n for n, _ in build(pos_encoding="rope").named_parameters()]
    assert "pos_emb.weight" not in names and "pos_emb.weight" in dict(build().named_parameters())
    assert "rope_cos" not in build(pos_encoding="rope").state_dict()  # derived, not saved


def test_rotary_scores_depend_only_on_the_relative_position():
    cos, sin = tf.rope_tables(32, 8)
    q, k = torch.randn(1, 2, 10, 8), torch.randn(1, 2, 10, 8)
    def scores(offset):
        return apply_at(q, cos, sin, offset) @ apply_at(k, cos, sin, offset).transpose(-1, -2)

    assert torch.allclose(scores(0), scores(13), atol=1e-5)
    assert not torch.allclose(q @ k.transpose(-1, -2), scores(0), atol=1e-3)  # it does rotate


def apply_at(x, cos, sin, offset):
    return tf.apply_rope(x, cos[offset:], sin[offset:])


def test_rotary_keeps_vector_norms_and_leaves_position_zero_unchanged():
    cos, sin = tf.rope_tables(16, 8)
    x = torch.randn(3, 16, 8)
    y = tf.apply_rope(x, cos, sin)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.equal(y[:, 0], x[:, 0])


def test_rope_alone_tells_the_model_the_order_of_earlier_tokens():
    # Without any position signal, one layer of causal attention at the last position is a
    # function of the set of earlier tokens; with the rotation it sees their order.
    idx = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    swapped = torch.tensor([[2, 1, 3, 4, 5, 6, 7, 8]])
    rope = build(pos_encoding="rope", n_layer=1)
    with torch.no_grad():
        assert not torch.allclose(rope(idx)[0, -1], rope(swapped)[0, -1], atol=1e-5)
        rope.rope_cos.fill_(1.0)
        rope.rope_sin.fill_(0.0)  # the rotation switched off: no position information is left
        assert torch.allclose(rope(idx)[0, -1], rope(swapped)[0, -1], atol=1e-5)


def test_rope_needs_an_even_head_size():
    with pytest.raises(ValueError, match="even head size"):
        build(pos_encoding="rope", d_model=36, n_head=4)


# --- n_head ------------------------------------------------------------------------

def test_n_head_sets_the_attention_heads_and_none_keeps_the_models_default():
    assert build().blocks[0].attn.n_head == 2
    assert build(n_head=8).blocks[0].attn.n_head == 8
    assert models.resolve_sizes("transformer_small", n_head=None) == (4, 4, 256)


@pytest.mark.parametrize("n_head, match", [(3, "multiple of n_head=3"), (0, "n_head must be >= 1")])
def test_n_head_that_does_not_divide_d_model_is_rejected(n_head, match):
    with pytest.raises(ValueError, match=match):
        build(n_head=n_head)


# --- qk_norm -----------------------------------------------------------------------

def output_after_scaling_q_and_k(model, idx, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits before and after every head's q and k projections are multiplied by `factor`."""
    with torch.no_grad():
        before = model(idx)
        for block in model.blocks:
            d = block.attn.qkv.out_features // 3
            block.attn.qkv.weight[:2 * d] *= factor
            block.attn.qkv.bias[:2 * d] *= factor
        return before, model(idx)


@pytest.mark.parametrize("flags", [{}, {"pos_encoding": "rope"}])
def test_qk_norm_makes_attention_blind_to_the_scale_of_q_and_k(flags):
    idx = torch.randint(0, 16, (2, 12), generator=torch.Generator().manual_seed(3))
    before, after = output_after_scaling_q_and_k(build(qk_norm=True, **flags), idx, 7.0)
    assert torch.allclose(before, after, atol=1e-4)  # up to the norm's eps of 1e-5
    before, after = output_after_scaling_q_and_k(build(qk_norm=False, **flags), idx, 7.0)
    assert not torch.allclose(before, after, atol=1e-3)


def test_unit_rms_gives_each_head_vector_an_rms_of_one_whatever_its_scale():
    x = torch.randn(2, 3, 5, 8) * torch.tensor([1.0, 30.0, 1000.0]).view(1, 3, 1, 1)
    rms = tf.unit_rms(x).pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-3)


def test_a_qk_norm_model_trains_with_finite_gradients():
    model = build(qk_norm=True).train()
    idx = torch.randint(0, 16, (4, 12))
    loss = torch.nn.functional.cross_entropy(model(idx[:, :-1]).reshape(-1, 16), idx[:, 1:].reshape(-1))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())
