"""A run's place in the design: its design point, its design cell, and their identity.

A design point is one value per factor, the seed apart; a design cell is a design
point without the compared factor, so the two arms of a seed-paired comparison share
their cell and their seed. Whoever asks "is this the same run, the same cell?" (the
checker's pairs, the planners, the log's `config_hash`) asks here. Plumbing (ids,
paths, device, plugins) never counts, and a factor at its `TrainConfig` default counts as
absent, so a log written before a config field existed still matches. A user factor
(any other key of the flat config) has no default: it always counts.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields

from run_config import PLUMBING, TrainConfig

_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}
_UNSET = object()


def cell_key(config: dict, factor: str) -> tuple:
    """The design cell: every factor but `factor` and the seed, as sorted (name, value) items."""
    return tuple(sorted((k, v) for k, v in config.items()
                        if k not in PLUMBING and k not in (factor, "seed") and _DEFAULTS.get(k, _UNSET) != v))


def level(cell: tuple, name: str):
    """A cell key's value of `name`: the key leaves out values at their default."""
    return dict(cell).get(name, _DEFAULTS.get(name))


def point_key(config: dict) -> tuple:
    """The design point: every factor but the seed."""
    return cell_key(config, "")


def run_key(config: dict) -> tuple:
    """A run's identity in the design: its design point and its seed."""
    return point_key(config), config.get("seed")


def pair_key(config: dict, factor: str) -> tuple:
    """What the two arms of one seed-paired comparison of `factor` share: cell and seed."""
    return cell_key(config, factor), config.get("seed")


def config_hash(config: dict) -> str:
    """The design point as the log records it: sha256 of its canonical JSON, 16 hex digits.
    With the record's `seed` it names the run, as `run_key` does in memory."""
    canonical = json.dumps(point_key(config), separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def same(a, b) -> bool:
    """Two values of one factor are the same level (numbers up to rounding)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b
