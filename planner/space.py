"""The search space: which configs may run, and which of them a prediction can use.

A design point is one value per factor. The loop fills in the plumbing
(experiment id, paths, device); everything else comes from the hypothesis grid,
with `TrainConfig` defaults for factors the grid does not name.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from run_config import FACTORS, TrainConfig, to_dict
from parser.checker.regions import region, source_spec
from parser.design import cell_key, same as _same
from parser.hypothesis import config_space
from parser.ranges import FactorRange
from parser.schema import Condition, Prediction

_DEFAULTS = {k: v for k, v in to_dict(TrainConfig()).items() if k in FACTORS}
SPREAD = 33  # values over a range among which `Space.fresh` chooses
MAX_CELL_FAILURES = 2  # a cell that crashed this often is left alone (by the planner, and by `needed_cells`)


@dataclass
class Space:
    grid: dict[str, list]  # factor -> candidate values, in the user's order
    # dataset -> train tokens, learned from finished runs for corpora whose size the
    # registry does not know, so N is known before the next run
    tokens: dict[str, float] = field(default_factory=dict)
    # factors given as ranges (parser/ranges.py): any value inside one is the factor's too
    ranges: dict[str, FactorRange] = field(default_factory=dict)

    @classmethod
    def of(cls, hypothesis) -> "Space":
        return cls(config_space(hypothesis.initial_config),
                   ranges={k: FactorRange(**v) for k, v in hypothesis.ranges.items()})

    def observe(self, config: dict, metrics: dict | None) -> list[tuple[str, float]]:
        """Learn from a finished run: its corpus's size, and values it ran inside a range
        that the grid did not hold yet (added to the grid; returned as (factor, value))."""
        n = (metrics or {}).get("n_train_samples")
        if isinstance(n, int) and n > 0 and config.get("dataset_fraction") and config.get("seq_len"):
            chunks = n / config["dataset_fraction"]
            self.tokens[config.get("dataset")] = chunks * (config["seq_len"] + 1)
        gained = []
        for name, span in self.ranges.items():
            value = config.get(name)
            if isinstance(value, (int, float)) and span.contains(value) and \
                    not any(math.isclose(value, v, rel_tol=1e-9) for v in self.values(name)):
                self.grid[name] = self.values(name) + [value]
                gained.append((name, value))
        return gained

    def in_range(self, factor: str, value) -> float | None:
        """`value` snapped to the factor's range if it lies inside it, else None."""
        span = self.ranges.get(factor)
        if span is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        snapped = span.snap(value)
        return snapped if span.contains(snapped) else None

    def fresh(self, factor: str, inside=lambda value: True) -> list:
        """Values of a range factor that the grid does not hold yet, the one farthest from every
        held value first (in the range's own scale: log or linear): among SPREAD spread over the
        range, those `inside` accepts. Where a prediction's cells have every seed they may have,
        a range still has room: the planner runs here next."""
        span = self.ranges.get(factor)
        if span is None:
            return []
        scale = (lambda x: math.log(x)) if span.log else float
        held = [scale(v) for v in self.values(factor) if isinstance(v, (int, float)) and (v > 0 or not span.log)]
        spread = FactorRange(low=span.low, high=span.high, log=span.log, step=span.step, points=SPREAD,
                             integer=span.integer).values()
        new = [v for v in spread if not any(math.isclose(scale(v), h, rel_tol=1e-9, abs_tol=1e-12) for h in held)
               and inside(v)]
        return sorted(new, key=lambda v: (-min((abs(scale(v) - h) for h in held), default=0.0), v))

    def expected_value(self, point: dict, variable: str):
        """A condition variable before the run: a factor, or N from the dataset's size."""
        if variable in point:
            return point[variable]
        if variable != "n_train_samples":
            return None
        from datasets import is_known, n_train_samples

        known = n_train_samples(point["dataset"], point["seq_len"], point["dataset_fraction"]) \
            if is_known(point["dataset"]) else None  # the user's own data: learned from its runs
        tokens = self.tokens.get(point["dataset"])
        if known is None and tokens:
            known = max(1, round(point["dataset_fraction"] * (tokens // (point["seq_len"] + 1))))
        return known

    def in_region(self, point: dict, condition: Condition | None) -> bool | None:
        """Whether the point satisfies the condition; None while that can't be known."""
        if condition is None:
            return True
        value = self.expected_value(point, condition.variable)
        return None if value is None else condition.holds(value)

    def values(self, factor: str) -> list:
        """The factor's candidate values; a factor the grid leaves out has its default."""
        return list(self.grid[factor]) if factor in self.grid else [getattr(TrainConfig(), factor)]

    def points(self) -> list[dict]:
        """Every full design point, grid order (first factor varies slowest)."""
        base = _DEFAULTS
        keys = list(self.grid)
        return [dict(base, **dict(zip(keys, combo)))
                for combo in itertools.product(*(self.grid[k] for k in keys))]

    def cells(self, factor: str) -> list[dict]:
        """Design points with `factor` left out (each is one cell of a comparison)."""
        seen, out = set(), []
        for point in self.points():
            cell = {k: v for k, v in point.items() if k != factor}
            key = cell_key(point, factor)
            if key not in seen:
                seen.add(key)
                out.append(cell)
        return out


def regions(prediction: Prediction, by_id: dict[str, Prediction]) -> list[Condition | None]:
    """The conditions whose cells inform this prediction (two for an interaction)."""
    spec = prediction.spec
    if spec.kind == "interaction":
        return [spec.condition, source_spec(prediction, by_id).condition]
    return [spec.condition]


def unreachable_reason(prediction: Prediction, by_id: dict[str, Prediction],
                       space: Space) -> str | None:
    """Why no config in the space can inform this prediction, or None if one can."""
    factor = source_spec(prediction, by_id).factor
    cells = space.cells(factor)
    for condition in regions(prediction, by_id):
        if condition is None or any(space.in_region(c, condition) is not False for c in cells):
            continue  # reachable, or not yet known (a run will tell)
        seen = sorted({space.expected_value(c, condition.variable) for c in cells})
        return f"no configuration reaches {condition.text()}: the space gives {condition.variable} in {seen}"
    return None


def needed_levels(prediction: Prediction, by_id: dict[str, Prediction], space: Space,
                  failures=lambda cell: 0) -> frozenset:
    """The declared levels that a verdict on this prediction's regions must each have a score at:
    (region, factor, value) for every value of every factor that varies across the cells of
    `space` in that region ("main"; "versus" for an interaction's other one). A claim on a
    region is a claim on the mean over its cells, and the pairs of one learning rate, however
    many, say nothing of another's effect; so every level of each factor the region spans must
    be seen (not every combination of levels: in a grid of many factors that would be every
    cell). Left out: cells whose region the space can't tell before they run (a condition on
    a metric; N of a corpus not yet seen), cells that failed MAX_CELL_FAILURES times (the
    verdict is then on the others), and bounds, which read single runs."""
    spec = prediction.spec
    if spec.kind == "bound":
        return frozenset()
    source = source_spec(prediction, by_id)
    values: dict[tuple, list] = {}  # (region, factor) -> its values there
    for cell in space.cells(source.factor):
        where = region_of(spec, source, cell, space)
        if where not in ("main", "versus") or failures(cell_key(cell, source.factor)) >= MAX_CELL_FAILURES:
            continue
        for name in space.grid:
            if name != source.factor and name in cell:
                seen = values.setdefault((where, name), [])
                if not any(_same(cell[name], v) for v in seen):
                    seen.append(cell[name])
    return frozenset((where, name, v) for (where, name), vs in values.items() if len(vs) > 1 for v in vs)


def region_of(spec, source, cell: dict, space: Space) -> str | None:
    """Which region of the prediction's evidence a cell adds to (`regions.region`), as the space tells."""
    return region(spec, source, lambda condition: space.in_region(cell, condition))


def _nice(x: float, up: bool) -> float:
    """Two significant digits, rounded away from the condition's boundary."""
    scale = 10 ** (math.floor(math.log10(x)) - 1)
    return (math.ceil if up else math.floor)(x / scale) * scale


def extension(prediction: Prediction, by_id: dict[str, Prediction], space: Space):
    """(factor, value, why) that lets the space reach a condition on N it can't reach yet.

    N < X: a smaller dataset_fraction. N > X: a larger one, else a shorter seq_len
    (more, shorter training sequences from the same tokens). None if neither works.
    """
    factor = source_spec(prediction, by_id).factor
    for condition in regions(prediction, by_id):
        if condition is None or condition.variable != "n_train_samples" or not isinstance(condition.value, float):
            continue
        cells = space.cells(factor) if factor else space.points()
        known = [(space.expected_value(c, "n_train_samples"), c) for c in cells]
        if any(space.in_region(c, condition) is not False for c in cells) or any(n is None for n, _ in known):
            continue
        for name, value in _candidates(condition, known):
            trial = Space(dict(space.grid, **{name: space.values(name) + [value]}), space.tokens)
            if any(trial.in_region(c, condition) for c in trial.cells(factor) if c.get(name) == value):
                return name, value, f"added {name} = {value} to reach {condition.text()} for {prediction.id}"
    return None


def _candidates(condition: Condition, known: list):
    x = condition.value
    if condition.op in ("<", "<="):
        n, cell = min(known, key=lambda k: k[0])
        fraction = _nice(cell["dataset_fraction"] * x / n * 0.8, up=False)
        if fraction > 0:
            yield "dataset_fraction", fraction
        return
    n, cell = max(known, key=lambda k: k[0])
    fraction = cell["dataset_fraction"]
    if fraction < 1.0:
        yield "dataset_fraction", min(1.0, _nice(fraction * x / n * 1.25, up=True))
    at_full = n / fraction
    seq_len = int((cell["seq_len"] + 1) * at_full / (x * 1.25)) // 8 * 8
    if seq_len >= max(8, cell["seq_len"] // 2):  # shorter, not a different task altogether
        yield "seq_len", seq_len
