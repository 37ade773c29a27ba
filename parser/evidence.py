"""From log records to the numbers a prediction is judged on.

A pair is two completed runs identical in every factor but the compared one, with
the same seed. Each pair (or, for a bound, each run) gives one score, signed so
that the prediction holds when the mean score is positive (`stats.paired_score`).
`Evidence` holds those scores by region plus the pooled seed noise; the checker
turns it into a verdict, and the planner asks what one more score would do.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace

from executor.config import PLUMBING
from parser import stats
from parser.schema import Condition, Prediction, PredictionSpec, ResultRecord


@dataclass(frozen=True)
class Pair:
    cell: tuple  # the other factors' values: the design cell
    seed: int
    arm: ResultRecord
    base: ResultRecord

    def value(self, name: str):
        """A condition variable: a config value, else a metric of the run."""
        if name in self.arm.config:
            return self.arm.config[name]
        return (self.arm.metrics or {}).get(name)


@dataclass(frozen=True)
class Evidence:
    """Scores for one prediction. kind: mean (> 0), difference (first - second > 0),
    between (|mean| < margin). `second` is only used by a difference."""

    kind: str
    first: tuple[float, ...]
    noise: stats.Pooled
    second: tuple[float, ...] = ()
    margin: float = 0.0
    shift: float = 0.0  # score = effect + shift: how to report the effect itself
    ids: tuple[str, ...] = field(default=(), compare=False)

    def plus(self, score: float, second: bool = False) -> "Evidence":
        """The evidence with one more score (the planner's what-if)."""
        if second:
            return replace(self, second=self.second + (score,))
        return replace(self, first=self.first + (score,))

    @property
    def n(self) -> int:
        return len(self.first) + len(self.second)


def same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def cell_key(config: dict, factor: str) -> tuple:
    return tuple(sorted((k, v) for k, v in config.items()
                        if k not in PLUMBING and k not in (factor, "seed")))


def holds(condition: Condition | None, config: dict, metrics: dict | None) -> bool:
    if condition is None:
        return True
    name = condition.variable
    return condition.holds(config[name] if name in config else (metrics or {}).get(name))


def find_pairs(spec: PredictionSpec, records: list[ResultRecord]) -> list[Pair]:
    groups: dict[tuple, dict[str, ResultRecord]] = defaultdict(dict)
    for r in records:
        if r.status != "completed" or spec.factor not in r.config:
            continue
        side = "arm" if same(r.config[spec.factor], spec.arm) else \
            "base" if same(r.config[spec.factor], spec.baseline) else None
        if side:
            groups[(cell_key(r.config, spec.factor), r.seed)].setdefault(side, r)
    return [Pair(cell, seed, g["arm"], g["base"])
            for (cell, seed), g in groups.items() if len(g) == 2]


def metric_values(spec: PredictionSpec, pair: Pair) -> tuple[float, float] | None:
    a, b = pair.arm.metrics or {}, pair.base.metrics or {}
    if spec.metric == "steps_to_target":
        return stats.steps_to_target(a.get("val_curve") or [], b.get("val_curve") or [])
    va, vb = a.get(spec.metric), b.get(spec.metric)
    if not isinstance(va, (int, float)) or not isinstance(vb, (int, float)):
        return None
    return float(va), float(vb)


def benefits(spec: PredictionSpec, records: list[ResultRecord]) -> list[tuple[Pair, float, float]]:
    """(pair, effect, baseline value) for every usable pair; effect > 0 favours the arm."""
    out = []
    for p in find_pairs(spec, records):
        values = metric_values(spec, p)
        z = stats.benefit(values[0], values[1], spec.direction, spec.relative) if values else None
        if z is not None:
            out.append((p, z, values[1]))
    return out


def pooled(spec: PredictionSpec, scored: list) -> stats.Pooled:
    """Seed noise pooled over every design cell of the prediction, with the weak prior."""
    cells = defaultdict(list)
    for p, z, _ in scored:
        cells[p.cell].append(z)
    if spec.relative:
        prior = stats.PRIOR_LOG_SCALE
    else:
        prior = stats.PRIOR_ABS_FRACTION * (sum(abs(v) for _, _, v in scored) / max(len(scored), 1))
    return stats.pooled_noise(list(cells.values()), max(prior, 1e-12))


def _ids(scored: list) -> tuple[str, ...]:
    return tuple(e for p, _, _ in scored for e in (p.arm.experiment_id, p.base.experiment_id))


def gather(prediction: Prediction, by_id: dict[str, Prediction],
           records: list[ResultRecord]) -> Evidence:
    """The prediction's evidence so far (possibly with no scores yet)."""
    spec = prediction.spec
    if spec.kind == "bound":
        return _bound(spec, records)
    source = by_id[spec.of].spec if spec.kind == "interaction" else spec
    scored = benefits(source, records)
    noise = pooled(source, scored)
    if spec.kind == "interaction":
        return _interaction(spec, source, scored, noise)
    inside = [s for s in scored if holds(spec.condition, s[0].arm.config, s[0].arm.metrics)]
    if spec.kind == "equivalence":
        margin = math.log1p(spec.threshold) if spec.relative else spec.threshold
        return Evidence("between", tuple(z for _, z, _ in inside), noise, margin=margin, ids=_ids(inside))
    shift = stats.paired_score(1.0, 1.0, spec.direction, spec.threshold, spec.relative)
    return Evidence("mean", tuple(z + shift for _, z, _ in inside), noise, shift=shift, ids=_ids(inside))


def _interaction(spec: PredictionSpec, source: PredictionSpec, scored: list,
                 noise: stats.Pooled) -> Evidence:
    """Effect where the comparison was measured minus the effect where `spec.condition` holds.

    A condition on another variable than the comparison's own is read inside the
    comparison's region ("smaller at lr = 1e-3" among the N < 5000 runs it is about).
    """
    here = spec.condition
    inside = [s for s in scored if in_second_region(spec, source, s[0].arm.config, s[0].arm.metrics)]
    if source.condition is not None:
        reference = [s for s in scored if holds(source.condition, s[0].arm.config, s[0].arm.metrics)
                     and s not in inside]
    else:
        reference = [s for s in scored if s not in inside]
    return Evidence("difference", tuple(z for _, z, _ in reference), noise,
                    second=tuple(z for _, z, _ in inside), ids=_ids(reference + inside))


def in_second_region(spec: PredictionSpec, source: PredictionSpec, config: dict, metrics) -> bool:
    """Whether a run is where an interaction says the effect is smaller."""
    if not holds(spec.condition, config, metrics):
        return False
    scoped = source.condition is not None and source.condition.variable != spec.condition.variable
    return holds(source.condition, config, metrics) if scoped else True


def _bound(spec: PredictionSpec, records: list[ResultRecord]) -> Evidence:
    """y = bound - m (lower) or m - bound (higher), per run; noise pooled over cells."""
    cells, scores, ids, values = defaultdict(list), [], [], []
    for r in records:
        value = (r.metrics or {}).get(spec.metric)
        if r.status != "completed" or not isinstance(value, (int, float)):
            continue
        if spec.factor and not same(r.config.get(spec.factor), spec.arm):
            continue
        y = spec.threshold - value if spec.direction == "lower" else value - spec.threshold
        cells[cell_key(r.config, "")].append(y)
        if holds(spec.condition, r.config, r.metrics):
            scores.append(y)
            ids.append(r.experiment_id)
            values.append(value)
    prior = stats.PRIOR_ABS_FRACTION * (sum(abs(v) for v in values) / len(values) if values else 1.0)
    noise = stats.pooled_noise(list(cells.values()), max(prior, 1e-12))
    return Evidence("mean", tuple(scores), noise, ids=tuple(ids))
