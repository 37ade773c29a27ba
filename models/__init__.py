"""Model registry: a plain dict of architectures a hypothesis may name.

torch is imported only inside `build`: the loop imports this module to validate
configs and to estimate run cost, and must not pay for a torch import.

Sizes (GPT-2 layout, tied head, see models/transformer.py), parameter counts with the
default flags (pre-norm, layernorm, gelu, learned positions) at vocab 256 and seq_len 256:

- transformer_small: n_layer=4, n_head=4, d_model=256 -> 3,290,624 parameters
  (post-norm: 3,290,112, no final LayerNorm).
- transformer_tiny:  n_layer=2, n_head=2, d_model=32  -> 41,856 parameters (post: 41,792); for tests.

The architecture flags, and what each does to that count (d = d_model, L = n_layer,
h = swiglu_hidden(d)); `n_head` changes nothing:

| flag | transformer_small | transformer_tiny | difference |
| --- | --- | --- | --- |
| defaults | 3,290,624 | 41,856 | |
| norm_type: rmsnorm | 3,288,320 | 41,696 | no norm biases: -(2L+1)d (post-norm: -2Ld) |
| activation: relu | 3,290,624 | 41,856 | none |
| activation: swiglu (h = 688 / 88) | 3,308,416 | 42,464 | +L(3dh + 2h - 8d^2 - 4d) |
| pos_encoding: rope | 3,225,088 | 33,664 | no position table: -seq_len*d |

SwiGLU's hidden size h = 8d/3 rounded up to a multiple of 8 keeps its three
matrices within 1% of the 4d MLP's two at d=256 (688 vs 682.7; 3% at d=32, h = 88).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from models.sizes import swiglu_hidden
from run_config import TrainConfig, to_dict


@dataclass(frozen=True)
class ModelSpec:
    n_layer: int
    n_head: int
    d_model: int
    note: str


@dataclass(frozen=True)
class Factor:
    """A factor a plugin model accepts: its default (whose type is the factor's: bool, int,
    float, str), and optionally the values it may take (`choices`) or its range."""

    name: str
    default: Any
    choices: tuple = ()
    low: float | None = None
    high: float | None = None

    def check(self, value: Any) -> Any:
        """`value` as this factor takes it (an int where a float is declared becomes a
        float); ValueError naming the factor otherwise."""
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            raise ValueError(f"{self.name} takes a {kind.__name__}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name}: {value!r} is not one of {', '.join(map(repr, self.choices))}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"{self.name}: must be in [{self.low}, {self.high}], got {value!r}")
        return value


@dataclass(frozen=True)
class PluginModel:
    """A model a plugin registered: `build(config, vocab_size)` -> an nn.Module mapping token
    ids [b, t] to logits [b, t, vocab]; `config` is the run's flat config (every built-in
    field, and each declared factor at its value or default)."""

    build: Callable[[dict, int], Any]
    factors: dict[str, Factor] = field(default_factory=dict)
    note: str = ""


MODELS: dict[str, ModelSpec | PluginModel] = {
    "transformer_small": ModelSpec(4, 4, 256, "small GPT-style LM; minutes per run on one GPU"),
    "transformer_tiny": ModelSpec(2, 2, 32, "toy size for tests; seconds on a CPU"),
}


def register_model(name: str, build: Callable[[dict, int], Any], factors: list[Factor] = (),
                   note: str = "") -> None:
    """Add a plugin's model to the registry; ValueError for a taken name or a factor declared twice."""
    if name in MODELS:
        raise ValueError(f"model {name!r} is already registered")
    declared: dict[str, Factor] = {}
    for f in factors:
        if f.name in declared:
            raise ValueError(f"model {name!r} declares factor {f.name!r} twice")
        declared[f.name] = f
    MODELS[name] = PluginModel(build, declared, note)


def is_plugin(name: str) -> bool:
    return isinstance(MODELS.get(name), PluginModel)


def declared_factors(name: str) -> dict[str, Factor]:
    """The user factors model `name` accepts (none for the built-in transformers)."""
    entry = MODELS.get(name)
    return entry.factors if isinstance(entry, PluginModel) else {}


def build_plugin(name: str, config: dict, vocab_size: int):
    """A plugin model built from the run's config, its declared factors defaulted."""
    entry = MODELS[name]
    values = {f.name: f.default for f in entry.factors.values()}
    return entry.build({**values, **config}, vocab_size)


def model_names() -> list[str]:
    return sorted(MODELS)


def spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(model_names())}")
    if is_plugin(name):
        raise ValueError(f"model {name!r} is a plugin's; it has no built-in sizes")
    return MODELS[name]


def resolve_sizes(name: str, n_layer: int | None = None, d_model: int | None = None,
                  n_head: int | None = None) -> tuple[int, int, int]:
    """(n_layer, n_head, d_model) after overrides; rejects sizes the model cannot take."""
    s = spec(name)
    n_layer = s.n_layer if n_layer is None else n_layer
    d_model = s.d_model if d_model is None else d_model
    n_head = s.n_head if n_head is None else n_head
    if n_layer < 1:
        raise ValueError(f"n_layer must be >= 1, got {n_layer}")
    if n_head < 1:
        raise ValueError(f"n_head must be >= 1, got {n_head}")
    if d_model < 1 or d_model % n_head:
        raise ValueError(f"d_model={d_model} must be a positive multiple of n_head={n_head} for {name}")
    return n_layer, n_head, d_model


def n_params(config, vocab_size: int) -> int:
    """Exact parameter count of the model `config` builds (a TrainConfig, taken whole),
    without building it.

    Per block: qkv 3d^2+3d, attn proj d^2+d, MLP 8d^2+5d (swiglu: fc 2hd+2h, proj hd+d),
    two norms 2d each (rmsnorm: d each). Plus the token embedding vocab*d, the learned
    position table seq_len*d (none for rope), a final norm for pre-norm; the head is tied.
    """
    n_layer, _, d = resolve_sizes(config.model, config.n_layer, config.d_model, config.n_head)
    norm = 2 * d if config.norm_type == "layernorm" else d
    if config.activation == "swiglu":
        h = swiglu_hidden(d)
        mlp = 3 * h * d + 2 * h + d
    else:
        mlp = 8 * d * d + 5 * d
    block = 4 * d * d + 4 * d + mlp + 2 * norm
    positions = config.seq_len * d if config.pos_encoding == "learned" else 0
    final_norm = norm if config.norm_position == "pre" else 0
    return vocab_size * d + positions + n_layer * block + final_norm


def describe(name: str) -> dict:
    """Default sizes and the parameter count at vocab 256, seq_len 256 (byte-level text)."""
    s = spec(name)
    return {
        "name": name,
        "n_layer": s.n_layer,
        "n_head": s.n_head,
        "d_model": s.d_model,
        "n_params_vocab256_seq256": n_params(TrainConfig(model=name, seq_len=256), 256),
        "note": s.note,
    }


def build(config, vocab_size: int):
    """A fresh `torch.nn.Module` for the run's config (a TrainConfig, taken whole),
    mapping token ids [b, t] to logits [b, t, vocab]: a plugin's model, or the built-in
    transformer with the config's sizes resolved (None = the model's default).

    Weights come from torch's global RNG: call `torch.manual_seed(seed)` first for a
    deterministic init.
    """
    if is_plugin(config.model):
        return build_plugin(config.model, to_dict(config), vocab_size)
    n_layer, n_head, d_model = resolve_sizes(config.model, config.n_layer, config.d_model, config.n_head)
    from models.transformer import TransformerLM  # lazy: pulls in torch

    return TransformerLM(dataclasses.replace(config, n_layer=n_layer, n_head=n_head, d_model=d_model), vocab_size)
