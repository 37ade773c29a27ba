"""Decoder-only causal transformer LM (GPT-2 layout), the one architecture the registry builds.

Token + learned positional embedding, `n_layer` blocks of causal self-attention
(`scaled_dot_product_attention`) and a GELU MLP, LM head tied to the token embedding.
`norm_position` is the factor the seed hypothesis varies:

- "pre":  x = x + attn(ln1(x)); x = x + mlp(ln2(x)); a final norm before the head.
- "post": x = ln1(x + attn(x)); x = ln2(x + mlp(x)); no final norm (the last block
  already ends in one), as in the original Transformer.

The other architecture flags (the defaults, first, are the layout above):

- `norm_type`: "layernorm" (weight and bias) | "rmsnorm" (weight only, no mean
  subtraction; Zhang & Sennrich 2019). Both at eps 1e-5.
- `activation`: "gelu" | "relu" (same 4d MLP) | "swiglu": silu(x W_g) * (x W_v) W_o
  (Shazeer 2020) with hidden size `swiglu_hidden(d)` = 8d/3 rounded up to a multiple
  of 8, so its three matrices hold about as many weights as the 4d MLP's two.
- `pos_encoding`: "learned" (a table added to the token embedding) | "rope": rotary
  embedding of q and k in every head (Su et al. 2021, GPT-NeoX half-split layout,
  base 10000), no position table; needs an even head size.
- `qk_norm`: False | True: q and k of each head scaled to unit RMS before their dot
  product (and before RoPE), which bounds the attention logits (Dehghani et al. 2023;
  here without a learned scale, so the parameter count and the init are the default's).

Norms are created without touching the RNG, and a RoPE model draws the numbers its
missing position table would have drawn, so arms built after the same
`torch.manual_seed` get bit-identical weights for every shared tensor (pre/post,
layernorm/rmsnorm, gelu/relu, learned/rope, any n_head). SwiGLU's MLP has other
shapes, so its arms share no weights with a GELU arm.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.sizes import swiglu_hidden

NORM_EPS = 1e-5  # LayerNorm's default, used for RMSNorm too
ROPE_BASE = 10000.0


class _RMSNorm(nn.Module):
    """x / rms(x) * weight, for torch versions without nn.RMSNorm (before 2.4)."""

    def __init__(self, d_model: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def unit_rms(x: torch.Tensor) -> torch.Tensor:
    """x / rms(x) over the last dimension, no learned scale (computed in fp32)."""
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + NORM_EPS)).type_as(x)


def make_norm(norm_type: str, d_model: int) -> nn.Module:
    if norm_type == "layernorm":
        return nn.LayerNorm(d_model)
    if hasattr(nn, "RMSNorm"):
        return nn.RMSNorm(d_model, eps=NORM_EPS)
    return _RMSNorm(d_model, NORM_EPS)


def rope_tables(seq_len: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [seq_len, head_dim]: position m turns pair (i, i + head_dim/2) by m * base^(-2i/head_dim)."""
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., t, head_dim] by the tables' first t positions (in x's dtype)."""
    t = x.shape[-2]
    cos, sin = cos[:t].to(x.dtype), sin[:t].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.qk_norm = config.qk_norm
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout
        self.resid_drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        # [b, t, d] -> [b, heads, t, d/heads]
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        if self.qk_norm:
            q, k = unit_rms(q), unit_rms(k)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.activation, d_model = config.activation, config.d_model
        hidden = swiglu_hidden(d_model) if self.activation == "swiglu" else 4 * d_model
        # SwiGLU's gate and value projections are one matrix, split after the matmul.
        self.fc = nn.Linear(d_model, 2 * hidden if self.activation == "swiglu" else hidden)
        self.proj = nn.Linear(hidden, d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        if self.activation == "gelu":
            h = F.gelu(h)
        elif self.activation == "relu":
            h = F.relu(h)
        else:
            gate, value = h.chunk(2, dim=-1)
            h = F.silu(gate) * value
        return self.drop(self.proj(h))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.pre = config.norm_position == "pre"
        self.attn = CausalSelfAttention(config)
        self.mlp = MLP(config)
        self.ln1 = make_norm(config.norm_type, config.d_model)
        self.ln2 = make_norm(config.norm_type, config.d_model)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if self.pre:
            x = x + self.attn(self.ln1(x), rope)
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x, rope))
        return self.ln2(x + self.mlp(x))


class TransformerLM(nn.Module):
    """`config`: the run's TrainConfig with its sizes resolved (models.build does that);
    its values were checked against run_config.py's table where the config was read."""

    def __init__(self, config, vocab_size: int):
        super().__init__()
        n_layer, n_head, d_model, seq_len = config.n_layer, config.n_head, config.d_model, config.seq_len
        if d_model % n_head:
            raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}")
        if config.pos_encoding == "rope" and (d_model // n_head) % 2:
            raise ValueError(f"rope needs an even head size; d_model={d_model} / n_head={n_head} "
                             f"= {d_model // n_head}")
        self.seq_len = seq_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        # Built either way, so that construction draws the same numbers for both encodings.
        pos_emb = nn.Embedding(seq_len, d_model)
        self.pos_emb = pos_emb if config.pos_encoding == "learned" else None
        if config.pos_encoding == "rope":
            cos, sin = rope_tables(seq_len, d_model // n_head)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(n_layer))
        self.ln_f = make_norm(config.norm_type, d_model) if config.norm_position == "pre" else nn.Identity()
        self._init_weights(n_layer, (seq_len, d_model))

    def _init_weights(self, n_layer: int, pos_shape: tuple[int, int]) -> None:
        # GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2*n_layer) so the
        # residual stream's variance does not grow with depth. Module order is fixed, so
        # the draws depend only on the seed and the shapes.
        params = list(self.named_parameters())
        if self.pos_emb is None:  # rope: draw for the absent table, in its place (after tok_emb)
            params.insert(1, ("pos_emb.weight", torch.empty(pos_shape)))
        for name, p in params:
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
            elif p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            # 1-d non-bias tensors are norm weights: keep their ones.

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits [batch, t, vocab] for token ids [batch, t], t <= seq_len."""
        t = idx.shape[1]
        if t > self.seq_len:
            raise ValueError(f"sequence of length {t} exceeds the model's seq_len {self.seq_len}")
        if self.pos_emb is None:
            x, rope = self.drop(self.tok_emb(idx)), (self.rope_cos, self.rope_sin)
        else:
            pos = torch.arange(t, device=idx.device)
            x, rope = self.drop(self.tok_emb(idx) + self.pos_emb(pos)), None
        for block in self.blocks:
            x = block(x, rope)
        # Tied head: the output projection reuses the token embedding matrix.
        return F.linear(self.ln_f(x), self.tok_emb.weight)
