"""Baseline planners the offline planner is measured against: a grid walk and random.

Neither looks at the confidences; the loop's stop rule (every prediction decided,
or the budget spent) is what ends their studies. Both propose seed-paired
comparisons like the offline planner, so the checker scores them the same way:
every level of the compared factor in one design cell, with one shared seed.
The compared factor is the first prediction's (an interaction's is the factor of
the comparison it qualifies); a full grid holds every other factor's pairs too.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from parser.checker.verdicts import Verdict
from parser.checker.regions import source_spec
from parser.design import point_key, run_key
from parser.schema import Prediction, ResultRecord
from planner.base import Indexes, Proposal
from planner.space import Space


def compared_factor(predictions: list[Prediction]) -> str:
    return source_spec(predictions[0], {p.id: p for p in predictions}).factor


def _tried(records: list[ResultRecord], pending: tuple[dict, ...] = ()) -> set[tuple]:
    """(design point, seed) of every run in the log, whatever its outcome, and of those in flight."""
    return {run_key(r.config) for r in records} | {run_key(p) for p in pending}


def _comparison(cell: dict, factor: str, levels: list, seed: int, name: str, why: str,
                predictions: list[Prediction]) -> Proposal:
    runs = [dict(cell, **{factor: level, "seed": seed}) for level in levels]
    return Proposal(runs, [p.id for p in predictions], why, name)


def _untried_levels(cell: dict, factor: str, levels: list, seed: int, tried: set) -> list:
    return [v for v in levels if run_key(dict(cell, **{factor: v}, seed=seed)) not in tried]


@dataclass
class GridPlanner:
    """Every grid point in the user's order, `seeds_per_point` seeds each, then stop."""

    seeds_per_point: int = 3
    base_seed: int = 0
    name: str = "grid"

    def propose(self, predictions: list[Prediction], verdicts: dict[str, Verdict],
                records: list[ResultRecord], space: Space, pending: tuple[dict, ...] = (),
                indexes: Indexes | None = None) -> Proposal | None:
        factor, tried = compared_factor(predictions), _tried(records, pending)
        levels = space.grid[factor]
        for point in space.points():
            cell = {k: v for k, v in point.items() if k != factor}
            for seed in range(self.base_seed, self.base_seed + self.seeds_per_point):
                todo = _untried_levels(cell, factor, levels, seed, tried)
                if todo:
                    why = f"grid walk: {factor} in {levels} at point {_short(cell, space)}, seed {seed}"
                    return _comparison(cell, factor, todo, seed, self.name, why, predictions)
        return None


@dataclass
class RandomPlanner:
    """A uniformly random untried (cell, seed), seeds base_seed .. base_seed + max_seeds - 1.

    Stateless: the draw is seeded by (seed, number of runs so far), so a resumed
    study, or a second planner with the same seed, makes the same choices.
    """

    seed: int = 0
    max_seeds: int = 5
    base_seed: int = 0
    name: str = "random"

    def propose(self, predictions: list[Prediction], verdicts: dict[str, Verdict],
                records: list[ResultRecord], space: Space, pending: tuple[dict, ...] = (),
                indexes: Indexes | None = None) -> Proposal | None:
        factor, tried = compared_factor(predictions), _tried(records, pending)
        levels = space.grid[factor]
        seeds = range(self.base_seed, self.base_seed + self.max_seeds)
        # a (cell, seed) is tried once any of its arms ran: it is never repeated. An arm's
        # design point does not depend on the seed, so it is keyed once per cell, not per seed.
        untried = []
        for cell in space.cells(factor):
            arms = [point_key(dict(cell, **{factor: v})) for v in levels]
            untried += [(cell, s) for s in seeds if not any((arm, s) in tried for arm in arms)]
        if not untried:
            return None
        cell, s = random.Random(f"{self.seed}:{len(records)}").choice(untried)
        why = f"random draw {len(records)} of planner seed {self.seed}: {_short(cell, space)}, seed {s}"
        return _comparison(cell, factor, levels, s, self.name, why, predictions)


def _short(cell: dict, space: Space) -> str:
    """The cell by the factors the user varies, e.g. learning_rate=0.001, dataset_fraction=0.1."""
    varied = [k for k, v in space.grid.items() if len(v) > 1 and k in cell]
    return ", ".join(f"{k}={cell[k]}" for k in varied) or "the only cell"
