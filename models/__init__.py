"""Model registry: a plain dict of architectures a hypothesis may name.

torch is imported only inside `build_model`: the loop imports this module to validate
configs and to estimate run cost, and must not pay for a torch import.

Sizes (GPT-2 layout, tied head, see models/transformer.py), parameter counts with
pre-norm at vocab 256 and seq_len 256:

- transformer_small: n_layer=4, n_head=4, d_model=256 -> 3,290,624 parameters
  (post-norm: 3,290,112, no final LayerNorm).
- transformer_tiny:  n_layer=2, n_head=2, d_model=32  -> 41,856 parameters (post: 41,792); for tests.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    n_layer: int
    n_head: int
    d_model: int
    note: str


MODELS = {
    "transformer_small": ModelSpec(4, 4, 256, "small GPT-style LM; minutes per run on one GPU"),
    "transformer_tiny": ModelSpec(2, 2, 32, "toy size for tests; seconds on a CPU"),
}


def model_names() -> list[str]:
    return sorted(MODELS)


def spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(model_names())}")
    return MODELS[name]


def resolve_sizes(name: str, n_layer: int | None = None, d_model: int | None = None) -> tuple[int, int, int]:
    """(n_layer, n_head, d_model) after overrides; rejects sizes the model cannot take."""
    s = spec(name)
    n_layer = s.n_layer if n_layer is None else n_layer
    d_model = s.d_model if d_model is None else d_model
    if n_layer < 1:
        raise ValueError(f"n_layer must be >= 1, got {n_layer}")
    if d_model < 1 or d_model % s.n_head:
        raise ValueError(f"d_model={d_model} must be a positive multiple of n_head={s.n_head} for {name}")
    return n_layer, s.n_head, d_model


def n_params(name: str, vocab_size: int, seq_len: int, norm_position: str = "pre",
             n_layer: int | None = None, d_model: int | None = None) -> int:
    """Exact parameter count without building the model (the planner's cost model uses it).

    Per block: qkv 3d^2+3d, attn proj d^2+d, MLP 8d^2+5d, two LayerNorms 4d = 12d^2+13d.
    Plus embeddings (vocab+seq_len)*d, a final LayerNorm 2d for pre-norm; the head is tied.
    """
    n_layer, _, d = resolve_sizes(name, n_layer, d_model)
    final_ln = 2 * d if norm_position == "pre" else 0
    return (vocab_size + seq_len) * d + n_layer * (12 * d * d + 13 * d) + final_ln


def describe(name: str) -> dict:
    """Default sizes and the parameter count at vocab 256, seq_len 256 (byte-level text)."""
    s = spec(name)
    return {
        "name": name,
        "n_layer": s.n_layer,
        "n_head": s.n_head,
        "d_model": s.d_model,
        "n_params_vocab256_seq256": n_params(name, 256, 256),
        "note": s.note,
    }


def build_model(name: str, vocab_size: int, seq_len: int, norm_position: str = "pre",
                dropout: float = 0.0, n_layer: int | None = None, d_model: int | None = None):
    """A fresh `torch.nn.Module` mapping token ids [b, t] to logits [b, t, vocab].

    Weights come from torch's global RNG: call `torch.manual_seed(seed)` first for a
    deterministic init.
    """
    n_layer, n_head, d_model = resolve_sizes(name, n_layer, d_model)
    from models.transformer import TransformerLM  # lazy: pulls in torch

    return TransformerLM(vocab_size, seq_len, n_layer, n_head, d_model, norm_position, dropout)
