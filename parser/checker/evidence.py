"""From scored pairs to the numbers a prediction is judged on.

A pair is two completed runs identical in every factor but the compared one, with
the same seed (`pairs.py` finds them, incrementally). Each pair (or, for a
bound, each run) gives one score, signed so that the prediction holds when the
mean score is positive (`scoring.paired_score`). `Evidence` holds those scores by
region plus the pooled seed noise; the checker turns it into a verdict, and the
planner asks what one more score would do. A prediction conditioned on a declared range
(`along.py`) takes its noise from a line through the comparison's pairs instead, and an
interaction along one is judged on that line.

Noise. The posterior and the guard read the same residuals: the scatter of the region's own
pairs within their cells (`stats.residuals`; no prior once the region has two scores). With
one score a stand-in worth one degree of freedom is learned from the study (`stand_in`): the
noise of the comparison's other cells, else the spread between its single pairs (an upper
bound: it holds any real gap between cells), and the fixed guess only before any of these.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

from parser.checker import along, scoring, stats, trend
from parser.checker.pairs import Index, PairIndexes, Scored, View, holds
from parser.checker.regions import region, source_spec
from parser.design import level, same
from parser.schema import Prediction, PredictionSpec, ResultRecord


@dataclass(frozen=True)
class Evidence:
    """Scores for one prediction. kind: mean (mean of `scores` > 0), difference (mean of
    `scores` - mean of `versus` > 0), between (|mean of `scores`| < margin). `scores`
    come from the region the prediction is judged in; `versus`, only for a difference
    (an interaction), from the region its effect is compared with."""

    kind: str
    scores: tuple[float, ...]
    noise: stats.Pooled
    versus: tuple[float, ...] = ()
    # the design cell of each score (and of each `versus` score): the strata the posterior's
    # mean and the guard read (`stats.strata`); empty: every score in one cell
    cells: tuple = ()
    versus_cells: tuple = ()
    margin: float = 0.0
    shift: float = 0.0  # score = effect + shift: how to report the effect itself
    ids: tuple[str, ...] = field(default=(), compare=False)
    # read along a declared range: the line behind `noise` and, for a difference, the verdict itself;
    # a line that bends (`straight` False) is kept only to say that the regions were read instead
    range_line: along.RangeLine | None = None
    # the declared levels of its regions that no score has yet, as (region, factor, value): a
    # verdict on a region reads every level of every factor it spans (`PairIndexes.needed`), so
    # none is decided while one is here
    missing: frozenset = frozenset()

    def plus(self, score: float, versus: bool = False, cell: tuple | None = None) -> "Evidence":
        """The evidence with one more score (the planner's what-if): in `cell`, else in the
        region's latest cell (a replicate, which is what the planner's next seed of a cell is)."""
        missing = self.missing - covered(self.missing, "versus" if versus else "main", cell) \
            if cell is not None else self.missing
        if versus:
            cells = _into(self.versus_cells, len(self.versus), cell)
            new = replace(self, versus=self.versus + (score,), versus_cells=cells, missing=missing)
        else:
            cells = _into(self.cells, len(self.scores), cell)
            new = replace(self, scores=self.scores + (score,), cells=cells, missing=missing)
        if self.on_line:  # the main region's scores carry the shift, the line's do not
            new = replace(new, range_line=self.range_line.plus(score if versus else score - self.shift, versus))
        return new

    @property
    def to_open(self) -> int:
        """The fewest new cells that would give every missing level a score: a cell gives one
        level of each factor, so as many as the factor with the most levels still to see."""
        counts: dict[tuple, int] = {}
        for where, name, _ in self.missing:
            counts[where, name] = counts.get((where, name), 0) + 1
        return max(counts.values(), default=0)

    @property
    def on_line(self) -> bool:
        """An interaction judged on the line (not on its two regions' means, as when the line bends)."""
        return self.range_line is not None and self.range_line.straight and self.kind == "difference"

    @property
    def n(self) -> int:
        return self.range_line.fitted.n if self.on_line else len(self.scores) + len(self.versus)


def covered(missing: frozenset, region: str, cell: tuple) -> frozenset:
    """The levels of `missing` that a score in `cell` of `region` would give."""
    return frozenset(m for m in missing if m[0] == region and same(level(cell, m[1]), m[2]))


def _more(cells: tuple) -> tuple:
    return cells + cells[-1:]  # empty stays empty: one cell


def _into(cells: tuple, n: int, cell: tuple | None) -> tuple:
    """The cells of n scores and one more: in `cell`, else in the latest cell. Empty cells (every
    score in one cell) name that one cell `()` for each score once a score goes to another."""
    if cell is None:
        return _more(cells)
    return (cells or ((),) * n) + (cell,)


def _cells(view: View) -> tuple:
    return tuple(e.cell for e in view.items)


def _ids(*views) -> tuple[str, ...]:
    return tuple(itertools.chain.from_iterable(v.ids for v in views))


def _always(entry: Scored) -> bool:
    return True


def inside(idx: Index, condition_of: PredictionSpec):
    """The view of the entries where `condition_of`'s condition holds."""
    condition = condition_of.condition
    return idx.view(("in", condition.model_dump_json() if condition else None),
                    lambda e: holds(condition, e.record.config, e.record.metrics))


def gather(prediction: Prediction, by_id: dict[str, Prediction], records: list[ResultRecord],
           indexes: PairIndexes | None = None) -> Evidence:
    """The prediction's evidence so far (possibly with no scores yet), from the study's `indexes`."""
    spec = prediction.spec
    source = source_spec(prediction, by_id)
    indexes = indexes or PairIndexes()
    idx = indexes.index(source, records, bound=spec.kind == "bound")
    key = ("evidence", spec.model_dump_json(), source.model_dump_json())
    needed = indexes.needed.get(key[1:])
    if not needed:
        return idx.remember(key, lambda: _evidence(spec, source, idx, indexes.ranges))
    return idx.remember(key + (needed,), lambda: _uncovered(_evidence(spec, source, idx, indexes.ranges), needed))


def _uncovered(ev: Evidence, needed: frozenset) -> Evidence:
    """The evidence with the levels of `needed`, (region, factor, value), that no score has yet.
    Read along a straight line, the line is the verdict and no level is required."""
    if ev.on_line or (ev.range_line is not None and ev.range_line.straight):
        return ev
    seen = {"main": set(ev.cells), "versus": set(ev.versus_cells)}
    return replace(ev, missing=frozenset(m for m in needed
                                         if not any(same(level(c, m[1]), m[2]) for c in seen[m[0]])))


def _evidence(spec: PredictionSpec, source: PredictionSpec, idx: Index, ranges: dict | None = None) -> Evidence:
    if spec.kind == "bound":
        return _bound(spec, idx)
    everything = idx.view("all", _always)
    if spec.kind == "interaction":
        return _interaction(spec, source, idx, everything, ranges or {})
    line = _line(spec.condition, everything, ranges or {}, source.relative)
    view = inside(idx, spec)
    straight = line is not None and line.straight  # a bent line is kept only to say so (`along.py`)
    noise = line.fitted.noise if straight else region_noise([view], everything, source.relative)
    cells = () if straight else _cells(view)  # along a range: the line's noise, and one stratum
    if spec.kind == "equivalence":
        return Evidence("between", tuple(view.scores), noise, margin=score_margin(spec), ids=_ids(view), range_line=line,
                        cells=cells)
    shift = scoring.paired_score(1.0, 1.0, spec.direction, spec.threshold, spec.relative)
    return Evidence("mean", tuple(e.score + shift for e in view.items), noise, shift=shift, ids=_ids(view),
                    range_line=line, cells=cells)


def stand_in(region: dict, everything: View, relative: bool) -> float:
    """The seed-noise scale to use while the region holds one score, learned from the study:

      the noise of the comparison's other cells (outside the region, `stats.residuals`), when they have any;
      else the sd of the cells' single scores (the gap between cells counts as noise: too wide, never too narrow);
      else the fixed guess: a 10% spread of a log-ratio, 5% of the metric's magnitude for a difference.
    """
    ss, df = stats.residuals(m for key, m in everything.cells.items() if key not in region)
    if df >= 1 and ss > 0:
        return math.sqrt(ss / df)
    between = stats.spread([m.mean for m in everything.cells.values()])
    if between is not None:
        return between
    return guess(everything, relative)


def guess(view: View, relative: bool) -> float:
    """The fixed guess, the last resort of `stand_in`."""
    if relative:
        return stats.PRIOR_LOG_SCALE
    return max(stats.PRIOR_ABS_FRACTION * view.abs_base / max(len(view.items), 1), stats.MIN_SCALE)


def region_noise(views: list[View], everything: View, relative: bool) -> stats.Pooled:
    """The seed noise of the region the views make up, each view's residuals read apart
    (`stats.residuals`: an interaction's two regions keep their own means), as the guard
    reads them (`stats.strata`); its stand-in learned (`stand_in`) while there are none."""
    ss, df = 0.0, 0
    for v in views:
        a, b = stats.residuals(v.cells.values())
        ss, df = ss + a, df + b
    if df >= 1:
        return stats.Pooled(max(math.sqrt(ss / df), stats.MIN_SCALE), float(df))
    region = {key: m for v in views for key, m in v.cells.items()}
    return stats.Pooled(max(stand_in(region, everything, relative), stats.MIN_SCALE), stats.PRIOR_DF)


def _at(e: Scored, name: str):
    config = e.record.config
    return config[name] if name in config else (e.record.metrics or {}).get(name)


def _line(condition, view: View, ranges: dict, relative: bool) -> along.RangeLine | None:
    """The view's scores on a line along `condition`'s variable, when that is a declared range
    and they span trend.MIN_VALUES values; None otherwise (the regions are read)."""
    if condition is None or not ranges:
        return None
    name = condition.variable
    where = along.scope(name, ranges, [(_at(e, name), e.record.config.get("dataset_fraction"))
                                       for e in view.items if isinstance(_at(e, name), (int, float))])
    if where is None:
        return None
    points = tuple((where.u(x), e.score, tuple(kv for kv in e.cell if kv[0] != where.factor))
                   for e in view.items if where.ok(x := _at(e, name)))
    found = along.RangeLine(where, points, stand_in({}, view, relative), ids=_ids(view))
    if found.fitted is None or found.fitted.values < trend.MIN_VALUES:
        return None
    return found


def score_margin(spec: PredictionSpec) -> float:
    """An equivalence's or interaction's practical margin on the score's scale: log(1 + m)
    for a relative effect (scores are log-ratios), m itself for an absolute one."""
    m = spec.margin() if spec.kind == "interaction" else spec.threshold
    return math.log1p(m) if spec.relative else m


def _interaction(spec: PredictionSpec, source: PredictionSpec, idx: Index,
                 everything: View, ranges: dict) -> Evidence:
    """Effect where the comparison was measured minus the effect where `spec.condition` holds
    (the regions as `regions.region` draws them), less the margin: the reference region's
    scores are shifted down by it, so the difference is positive when the effect is smaller
    by more than the margin and negative when it is not. Along a declared range the same
    difference is read on the line (`along.py`); the regions' scores stay for the planner."""
    def where(e: Scored) -> str | None:
        return region(spec, source, lambda c: holds(c, e.record.config, e.record.metrics))

    def in_versus(e: Scored) -> bool:
        return where(e) == "versus"

    def reference(e: Scored) -> bool:
        return where(e) == "main"

    key = spec.model_dump_json()
    there, here = idx.view(("versus", key), in_versus), idx.view(("reference", key), reference)
    m = score_margin(spec)
    found = _on_line(spec, source, idx, here, there, ranges)
    if found is not None and found.straight:
        return Evidence("difference", tuple(y - m for y in here.scores), found.fitted.noise,
                        versus=tuple(there.scores), shift=-m, ids=found.ids, range_line=found)
    noise = region_noise([here, there], everything, source.relative)
    return Evidence("difference", tuple(y - m for y in here.scores), noise, versus=tuple(there.scores),
                    shift=-m, ids=_ids(here, there), cells=_cells(here), versus_cells=_cells(there),
                    range_line=found)  # a bent line, kept to say so; None where there is none


def _on_line(spec: PredictionSpec, source: PredictionSpec, idx: Index, here: View, there: View,
             ranges: dict) -> along.RangeLine | None:
    """The interaction's line: every pair of the comparison along the condition's variable
    (inside the comparison's own condition when that reads another variable), with the
    centroids of the declared range's two parts; None where the regions are read."""
    if not ranges:
        return None
    name, own = spec.condition.variable, source.condition
    scoped = own is not None and own.variable != name
    view = idx.view(("range line", spec.model_dump_json()),
                    lambda e: not scoped or holds(own, e.record.config, e.record.metrics))
    found = _line(spec.condition, view, ranges, source.relative)
    centroids = found and along.span(found.where, spec.condition, own)
    if not centroids:
        return None

    def next_at(v: View, centroid: float):
        us = [found.where.u(x) for e in v.items if found.where.ok(x := _at(e, name))]
        if not us:
            return centroid, found.points[-1][2]
        return math.fsum(us) / len(us), tuple(kv for kv in v.items[-1].cell if kv[0] != found.where.factor)

    return replace(found, centroids=centroids, next_at=(next_at(here, centroids[0]), next_at(there, centroids[1])))


def _bound(spec: PredictionSpec, idx: Index) -> Evidence:
    """y = bound - m (lower) or m - bound (higher), per run, by design point; the noise of the
    points inside the condition, its stand-in learned from the bound's other points."""
    view = inside(idx, spec)
    noise = region_noise([view], idx.view("all", _always), relative=False)
    return Evidence("mean", tuple(view.scores), noise, ids=_ids(view), cells=_cells(view))
