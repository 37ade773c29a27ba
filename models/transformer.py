"""Decoder-only causal transformer LM (GPT-2 layout), the one architecture the registry builds.

Token + learned positional embedding, `n_layer` blocks of causal self-attention
(`scaled_dot_product_attention`) and a GELU MLP, LM head tied to the token embedding.
`norm_position` is the factor the seed hypothesis varies:

- "pre":  x = x + attn(ln1(x)); x = x + mlp(ln2(x)); a final LayerNorm before the head.
- "post": x = ln1(x + attn(x)); x = ln2(x + mlp(x)); no final LayerNorm (the last block
  already ends in one), as in the original Transformer.

So a post-norm model has 2*d_model fewer parameters than its pre-norm twin. LayerNorms
are created without touching the RNG, so both arms built after the same
`torch.manual_seed` get bit-identical weights for every shared tensor.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

NORM_POSITIONS = ("pre", "post")


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        # [b, t, d] -> [b, heads, t, d/heads]
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))


class MLP(nn.Module):
    def __init__(self, d_model: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.proj = nn.Linear(4 * d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float, norm_position: str):
        super().__init__()
        self.pre = norm_position == "pre"
        self.attn = CausalSelfAttention(d_model, n_head, dropout)
        self.mlp = MLP(d_model, dropout)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.mlp(x))


class TransformerLM(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int, n_layer: int, n_head: int, d_model: int,
                 norm_position: str = "pre", dropout: float = 0.0):
        super().__init__()
        if norm_position not in NORM_POSITIONS:
            raise ValueError(f"norm_position must be one of {NORM_POSITIONS}, got {norm_position!r}")
        if d_model % n_head:
            raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}")
        self.seq_len = seq_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(seq_len, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_head, dropout, norm_position) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model) if norm_position == "pre" else nn.Identity()
        self._init_weights(n_layer)

    def _init_weights(self, n_layer: int) -> None:
        # GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2*n_layer) so the
        # residual stream's variance does not grow with depth. Module order is fixed, so
        # the draws depend only on the seed and the shapes.
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
            elif p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            # 1-d non-bias tensors are LayerNorm weights: keep their ones.

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits [batch, t, vocab] for token ids [batch, t], t <= seq_len."""
        t = idx.shape[1]
        if t > self.seq_len:
            raise ValueError(f"sequence of length {t} exceeds the model's seq_len {self.seq_len}")
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        # Tied head: the output projection reuses the token embedding matrix.
        return F.linear(self.ln_f(x), self.tok_emb.weight)
