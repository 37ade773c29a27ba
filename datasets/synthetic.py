"""A built-in language with a known floor: a fixed random order-2 Markov chain.

Why: a real corpus hides how far a model is from the best possible loss. Here the
entropy rate H (nats/token) is exact, so `val_loss - H` is the model's true excess
loss, and the language needs no download (tests, CI, offline users).

Each context (previous two symbols) has a peaked next-symbol distribution: a
Dirichlet(alpha) draw mixed with a little uniform mass, then quantised to integer
counts out of QUANT with every count >= 1. Sampling is an exact table lookup
(`table[ctx, randint(QUANT)]`), and because every transition has positive probability
the chain over contexts is irreducible and aperiodic, so its stationary distribution
is unique and H = sum_s pi(s) * H(P[s, :]) is the entropy rate.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

QUANT = 1024  # transition probabilities are multiples of 1/QUANT: exact sampling by lookup


@dataclass(frozen=True)
class MarkovSpec:
    n_symbols: int = 16
    alpha: float = 0.15  # Dirichlet concentration: smaller = more peaked rows
    uniform_mix: float = 0.02
    seed: int = 1234  # generator seed of the language itself, not of any run
    n_train: int = 200_000
    n_val: int = 20_000


@dataclass(frozen=True)
class MarkovLanguage:
    counts: np.ndarray  # [V*V contexts, V] integer counts summing to QUANT per row
    stationary: np.ndarray  # [V*V] stationary distribution over contexts
    entropy_rate: float  # nats per token
    train: np.ndarray
    val: np.ndarray
    sha256: str


def transition_counts(spec: MarkovSpec, rng: np.random.Generator) -> np.ndarray:
    v = spec.n_symbols
    probs = rng.dirichlet(np.full(v, spec.alpha), size=v * v)
    probs = (1 - spec.uniform_mix) * probs + spec.uniform_mix / v
    # Largest-remainder rounding to QUANT, keeping every count >= 1 (irreducibility).
    spare = QUANT - v
    raw = probs * spare
    counts = np.floor(raw).astype(np.int64)
    short = spare - counts.sum(axis=1)
    order = np.argsort(-(raw - counts), axis=1, kind="stable")
    for row, k in enumerate(short):
        counts[row, order[row, :k]] += 1
    return counts + 1


def stationary_distribution(counts: np.ndarray) -> np.ndarray:
    """Stationary law of the chain on contexts (a, b) -> (b, c), by power iteration."""
    v = counts.shape[1]
    p = counts / QUANT
    pi = np.full(v * v, 1.0 / (v * v))
    for _ in range(10_000):
        # Mass of context (a, b) flows to (b, c) with probability p[(a, b), c].
        flow = (pi[:, None] * p).reshape(v, v, v).sum(axis=0).reshape(-1)
        if np.abs(flow - pi).max() < 1e-15:
            break
        pi = flow
    return pi / pi.sum()


def entropy_rate(counts: np.ndarray, stationary: np.ndarray) -> float:
    p = counts / QUANT  # all entries > 0, so log is safe
    row_entropy = -(p * np.log(p)).sum(axis=1)
    return float(stationary @ row_entropy)


def sample(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    v = counts.shape[1]
    # table[ctx, u] = symbol whose cumulative count bin contains u
    table = np.stack([np.repeat(np.arange(v), row) for row in counts]).tolist()
    draws = rng.integers(0, QUANT, size=n).tolist()
    out = [0] * n
    a, b = 0, 0
    for t in range(n):  # plain Python ints: ~10x faster than numpy scalars here
        c = table[a * v + b][draws[t]]
        out[t] = c
        a, b = b, c
    return np.asarray(out, dtype=np.uint8)


@lru_cache(maxsize=4)
def language(spec: MarkovSpec = MarkovSpec()) -> MarkovLanguage:
    """The language and its train/val token streams, deterministic in `spec` (cached)."""
    rng = np.random.default_rng(spec.seed)
    counts = transition_counts(spec, rng)
    pi = stationary_distribution(counts)
    burn_in = 1000  # start the kept stream near stationarity
    tokens = sample(counts, burn_in + spec.n_train + spec.n_val, rng)[burn_in:]
    train, val = tokens[: spec.n_train], tokens[spec.n_train:]
    # Hash the params and the generated tokens: identifies the data even if numpy's
    # samplers ever change under the same seed.
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    digest.update(tokens.tobytes())
    return MarkovLanguage(counts, pi, entropy_rate(counts, pi), train, val, digest.hexdigest())
