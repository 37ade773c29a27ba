"""From log records to scored pairs (or runs), kept up to date as the log grows.

A pair is two completed runs identical in every factor but the compared one, with
the same seed; the first completed run of each arm in a (cell, seed) group counts.
The loop asks for the same comparison's pairs after every run, and reading them
again from the whole log each time made a study quadratic in its length. An
`Index` remembers the records it has read (by identity) and reads only new ones;
its `View`s (the pairs inside a region, with their pooled seed noise) grow the
same way. Pairs are listed in the order they were completed.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, NamedTuple

from parser.checker import replicates, scoring, stats
from parser.design import cell_key, pair_key, same
from parser.schema import Condition, PredictionSpec, ResultRecord


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


class Scored(NamedTuple):
    """One usable unit of evidence: a pair (or, for a bound, a run) and its score."""

    pair: Pair | None  # None for a bound's run
    score: float  # the effect (pairs: > 0 favours the arm) or bound - metric
    base: float  # the baseline's metric (a bound: the run's metric), for the noise prior
    cell: tuple
    record: ResultRecord  # the arm's run (a bound: the run)

    @property
    def ids(self) -> tuple[str, ...]:
        if self.pair is None:
            return (self.record.experiment_id,)
        return self.pair.arm.experiment_id, self.pair.base.experiment_id


def holds(condition: Condition | None, config: dict, metrics: dict | None) -> bool:
    if condition is None:
        return True
    name = condition.variable
    return condition.holds(config[name] if name in config else (metrics or {}).get(name))


def metric_values(spec: PredictionSpec, pair: Pair, targets: dict | None = None) -> tuple[float, float] | None:
    """The two arms' values of the prediction's metric. steps_to_target reaches the loss
    target written in the prediction (`spec.target`), else that of the pair's design cell,
    fixed by its first scorable pair and kept in `targets`; either is fixed before the run,
    so a run may stop once it crosses it (`parser.checker.early_stop`)."""
    a, b = pair.arm.metrics or {}, pair.base.metrics or {}
    if spec.metric == "steps_to_target":
        ca, cb = a.get("val_curve") or [], b.get("val_curve") or []
        if spec.target is not None:
            return scoring.steps_to_target(ca, cb, spec.target)
        targets = {} if targets is None else targets
        if pair.cell not in targets:
            target = scoring.pair_target(ca, cb)
            if target is None:
                return None
            targets[pair.cell] = target
        return scoring.steps_to_target(ca, cb, targets[pair.cell])
    va, vb = a.get(spec.metric), b.get(spec.metric)
    if not isinstance(va, (int, float)) or not isinstance(vb, (int, float)):
        return None
    return float(va), float(vb)


def extends(seen: list[ResultRecord], records: list[ResultRecord]) -> bool:
    """Whether `records` is `seen` plus more: the same record objects, in order, first."""
    n = len(seen)
    if n > len(records) or (n and records[n - 1] is not seen[-1]):
        return False
    return records[:n] == seen  # identical objects compare equal without a look inside


class View:
    """The scored entries that `keep` accepts, in order, with per-cell seed-noise moments."""

    def __init__(self, keep: Callable[[Scored], bool]):
        self.keep = keep
        self.items: list[Scored] = []
        self.scores: list[float] = []  # the items' scores
        self.ids: list[str] = []  # the experiments behind them
        self.read = 0
        self.cells: dict[tuple, stats.Moments] = {}
        self.abs_base = 0.0  # sum of |base| over the items: the absolute noise prior's scale
        self.grouped: dict[str, list] = {}  # factor -> [items read, {level: scores}]

    def update(self, entries: list[Scored]) -> "View":
        for e in entries[self.read:]:
            if self.keep(e):
                self.items.append(e)
                self.scores.append(e.score)
                self.ids.extend(e.ids)
                self.cells.setdefault(e.cell, stats.Moments()).add(e.score)
                self.abs_base += abs(e.base)
        self.read = len(entries)
        return self

    def by(self, factor: str) -> dict:
        """The items' scores grouped by their arm's value of `factor` (kept up to date)."""
        read, groups = self.grouped.setdefault(factor, [0, {}])
        for e in self.items[read:]:
            groups.setdefault(e.record.config.get(factor), []).append(e.score)
        self.grouped[factor][0] = len(self.items)
        return groups

    def noise(self, relative: bool, stand_in: float | None = None) -> stats.Pooled:
        """Seed noise pooled over the view's cells (`stats.seed_noise`: the data alone once a
        cell has a replicate). Before that, `stand_in`, else the spread between the cells'
        single scores, else the fixed guess (10% of a log-ratio, 5% of the metric)."""
        if stand_in is None:
            stand_in = stats.spread([m.mean for m in self.cells.values()])
        if stand_in is None:
            stand_in = stats.PRIOR_LOG_SCALE if relative else \
                stats.PRIOR_ABS_FRACTION * self.abs_base / max(len(self.items), 1)
        return stats.seed_noise(self.cells.values(), stand_in)


class Index:
    """Scored pairs of one comparison (or runs of one bound) in one growing list of records."""

    def __init__(self, spec: PredictionSpec, bound: bool):
        self.spec, self.bound = spec, bound
        self.seen: list[ResultRecord] = []
        self.groups: dict[tuple, dict[str, ResultRecord]] = {}
        self.pairs: list[Pair] = []  # every complete pair, scorable or not
        self.scored: list[Scored] = []
        self.targets: dict[tuple, float] = {}  # design cell -> its loss target (steps_to_target)
        self.views: dict = {}
        self.remembered: dict = {}
        self.checks = replicates.Checks()  # copies of an earlier seed, skipped
        # each design cell once: every pair (or run) of a cell holds the same tuple, which the
        # strata, read for each of the planner's what-ifs, hash over and over (one object, in cache)
        self.cells: dict[tuple, tuple] = {}

    def extends(self, records: list[ResultRecord]) -> bool:
        return extends(self.seen, records)

    def copy(self) -> "Index":
        """An independent index in the same state, sharing the records, pairs and scored entries
        (never changed once made); its views and remembered results are rebuilt on first use."""
        other = Index.__new__(Index)
        other.spec, other.bound = self.spec, self.bound
        other.seen, other.pairs, other.scored = list(self.seen), list(self.pairs), list(self.scored)
        other.groups = dict(self.groups)  # (its groups are never changed in place)
        other.targets, other.cells = dict(self.targets), dict(self.cells)
        other.views, other.remembered = {}, {}
        other.checks = self.checks.copy()
        return other

    def read(self, records: list[ResultRecord]) -> None:
        new = records[len(self.seen):]
        self.checks.update(records)
        for r in new:
            if self.checks.copy_of(r) is not None:
                continue  # a replicate that repeats an earlier seed's numbers is no evidence
            if self.bound:
                self._read_run(r)
            else:
                self._read_pair(r)
        self.seen.extend(new)

    def _read_run(self, r: ResultRecord) -> None:
        spec = self.spec
        value = (r.metrics or {}).get(spec.metric)
        if r.status != "completed" or not isinstance(value, (int, float)):
            return
        if spec.factor and not same(r.config.get(spec.factor), spec.arm):
            return
        y = spec.threshold - value if spec.direction == "lower" else value - spec.threshold
        cell = cell_key(r.config, "")
        self._add(Scored(None, y, float(value), self.cells.setdefault(cell, cell), r))

    def _read_pair(self, r: ResultRecord) -> None:
        spec = self.spec
        if r.status != "completed" or spec.factor not in r.config:
            return
        value = r.config[spec.factor]
        side = "arm" if same(value, spec.arm) else "base" if same(value, spec.baseline) else None
        if side is None:
            return
        key = pair_key(r.config, spec.factor)
        group = self.groups.get(key, {})
        if side in group:
            return
        group = self.groups[key] = {**group, side: r}  # a new dict, never changed: copies share it
        if len(group) == 2:
            pair = Pair(self.cells.setdefault(key[0], key[0]), key[1], group["arm"], group["base"])
            self.pairs.append(pair)
            if replicates.same_output(pair.arm, pair.base):
                return  # one run twice: the factor never reached the script

            values = metric_values(spec, pair, self.targets)
            z = scoring.benefit(values[0], values[1], spec.direction, spec.relative) if values else None
            if z is not None:
                self._add(Scored(pair, z, values[1], pair.cell, pair.arm))
            else:
                self.remembered.clear()

    def _add(self, entry: Scored) -> None:
        self.scored.append(entry)
        self.remembered.clear()

    def view(self, key, keep: Callable[[Scored], bool]) -> View:
        """The entries `keep` accepts (`key` names the filter), brought up to date."""
        found = self.views.get(key)
        if found is None:
            found = self.views[key] = View(keep)
        return found.update(self.scored)

    def remember(self, key, make):
        """make(), remembered until the index gains a pair or run."""
        if key not in self.remembered:
            self.remembered[key] = make()
        return self.remembered[key]


class PairIndexes:
    """One study's indexes, by comparison: what a new record is read into once.

    The study owns one and hands it to the checker, evolution and the planner; a
    fresh one (the default everywhere) reads the records afresh. Bounded: the 64
    most recent comparisons, 4 record lists each (the study's log and the slices
    after the runs that spawned refined predictions).
    """

    MAX_SPECS, MAX_LISTS = 64, 4

    def __init__(self, ranges: dict | None = None):
        self.by_spec: OrderedDict[tuple, list[Index]] = OrderedDict()
        self.ranges = dict(ranges or {})  # the study's declared ranges: read along by the checker
        # (spec, source) as JSON -> the declared levels its regions must each have a score at,
        # frozenset of (region, factor, value): set by the study from its space (`planner.space.needed_levels`)
        self.needed: dict[tuple, frozenset] = {}

    def copy(self, ranges: dict | None = None) -> "PairIndexes":
        """Independent indexes in the same state (`Index.copy`): for a reader in another thread,
        which then brings its own up to date; `ranges` replaces the declared ranges."""
        other = PairIndexes(self.ranges if ranges is None else ranges)
        other.by_spec = OrderedDict((key, [i.copy() for i in found]) for key, found in self.by_spec.items())
        other.needed = dict(self.needed)
        return other

    def index(self, spec: PredictionSpec, records: list[ResultRecord], bound: bool = False) -> Index:
        """The index of `spec` that `records` extends (a new one if none does), brought up to date."""
        key = ("bound", spec.model_dump_json()) if bound else \
            (spec.factor, repr(spec.arm), repr(spec.baseline), spec.metric, spec.direction, spec.relative,
                spec.target)
        indexes = self.by_spec.setdefault(key, [])
        self.by_spec.move_to_end(key)
        found = next((i for i in indexes if i.extends(records)), None)
        if found is None:
            found = Index(spec, bound)
            while len(self.by_spec) > self.MAX_SPECS:
                self.by_spec.popitem(last=False)
        else:
            indexes.remove(found)
        indexes.insert(0, found)  # most recently used first; the least is dropped
        del indexes[self.MAX_LISTS:]
        found.read(records)
        return found


def find_pairs(spec: PredictionSpec, records: list[ResultRecord],
               indexes: PairIndexes | None = None) -> list[Pair]:
    return list((indexes or PairIndexes()).index(spec, records).pairs)


def benefits(spec: PredictionSpec, records: list[ResultRecord],
             indexes: PairIndexes | None = None) -> list[Scored]:
    """Every usable pair as (pair, effect, baseline value, ...); effect > 0 favours the arm."""
    return list((indexes or PairIndexes()).index(spec, records).scored)


def once_per_pair_state(spec: PredictionSpec, records: list[ResultRecord], key, make, indexes: PairIndexes | None = None):
    """make(index), computed once for each state of the comparison's pairs in `records`.

    For what is read from those pairs alone (`key` names it); it is worked out again
    only after a run that completes a pair. `make` must not mutate the index.
    """
    found = (indexes or PairIndexes()).index(spec, records)
    return found.remember(("once_per_pair_state", spec.model_dump_json(), key), lambda: make(found))
