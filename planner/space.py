"""The search space: which configs may run, and which of them a prediction can use.

A design point is one value per factor. The loop fills in the plumbing
(experiment id, paths, device); everything else comes from the hypothesis grid,
with `TrainConfig` defaults for factors the grid does not name.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from executor.config import FACTORS, TrainConfig, to_dict
from parser.schema import Condition, Prediction


@dataclass
class Space:
    grid: dict[str, list]  # factor -> candidate values, in the user's order
    # (dataset, seq_len) -> train chunks, learned from finished runs for corpora whose
    # size the registry does not know, so N is known before the next run
    chunks: dict[tuple, float] = field(default_factory=dict)

    def observe(self, config: dict, metrics: dict | None) -> None:
        n = (metrics or {}).get("n_train_samples")
        if isinstance(n, int) and n > 0 and config.get("dataset_fraction"):
            self.chunks[(config.get("dataset"), config.get("seq_len"))] = n / config["dataset_fraction"]

    def expected_value(self, point: dict, variable: str):
        """A condition variable before the run: a factor, or N from the dataset's size."""
        if variable in point:
            return point[variable]
        if variable != "n_train_samples":
            return None
        from datasets import n_train_samples

        known = n_train_samples(point["dataset"], point["seq_len"], point["dataset_fraction"])
        chunks = self.chunks.get((point["dataset"], point["seq_len"]))
        if known is None and chunks:
            known = max(1, round(point["dataset_fraction"] * chunks))
        return known

    def in_region(self, point: dict, condition: Condition | None) -> bool | None:
        """Whether the point satisfies the condition; None while that can't be known."""
        if condition is None:
            return True
        value = self.expected_value(point, condition.variable)
        return None if value is None else condition.holds(value)

    def points(self) -> list[dict]:
        """Every full design point, grid order (first factor varies slowest)."""
        base = {k: v for k, v in to_dict(TrainConfig()).items() if k in FACTORS}
        keys = list(self.grid)
        return [dict(base, **dict(zip(keys, combo)))
                for combo in itertools.product(*(self.grid[k] for k in keys))]

    def cells(self, factor: str) -> list[dict]:
        """Design points with `factor` left out (each is one cell of a comparison)."""
        seen, out = set(), []
        for point in self.points():
            cell = {k: v for k, v in point.items() if k != factor}
            key = tuple(sorted(cell.items()))
            if key not in seen:
                seen.add(key)
                out.append(cell)
        return out


def regions(prediction: Prediction, by_id: dict[str, Prediction]) -> list[Condition | None]:
    """The conditions whose cells inform this prediction (two for an interaction)."""
    spec = prediction.spec
    if spec.kind == "interaction":
        return [spec.condition, by_id[spec.of].spec.condition]
    return [spec.condition]


def unreachable_reason(prediction: Prediction, by_id: dict[str, Prediction],
                       space: Space) -> str | None:
    """Why no config in the space can inform this prediction, or None if one can."""
    spec = prediction.spec
    factor = by_id[spec.of].spec.factor if spec.kind == "interaction" else spec.factor
    cells = space.cells(factor)
    for condition in regions(prediction, by_id):
        if condition is None or any(space.in_region(c, condition) is not False for c in cells):
            continue  # reachable, or not yet known (a run will tell)
        seen = sorted({space.expected_value(c, condition.variable) for c in cells})
        return f"no configuration reaches {condition.text()}: the space gives {condition.variable} in {seen}"
    return None
