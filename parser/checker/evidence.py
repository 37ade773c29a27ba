"""From scored pairs to the numbers a prediction is judged on.

A pair is two completed runs identical in every factor but the compared one, with
the same seed (`pairs.py` finds them, incrementally). Each pair (or, for a
bound, each run) gives one score, signed so that the prediction holds when the
mean score is positive (`stats.paired_score`). `Evidence` holds those scores by
region plus the pooled seed noise; the checker turns it into a verdict, and the
planner asks what one more score would do.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

from parser.checker import stats
from parser.checker.pairs import Index, PairIndexes, Scored, holds
from parser.checker.regions import region, source_spec
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
    margin: float = 0.0
    shift: float = 0.0  # score = effect + shift: how to report the effect itself
    ids: tuple[str, ...] = field(default=(), compare=False)

    def plus(self, score: float, versus: bool = False) -> "Evidence":
        """The evidence with one more score (the planner's what-if)."""
        if versus:
            return replace(self, versus=self.versus + (score,))
        return replace(self, scores=self.scores + (score,))

    @property
    def n(self) -> int:
        return len(self.scores) + len(self.versus)


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
    idx = (indexes or PairIndexes()).index(source, records, bound=spec.kind == "bound")
    key = ("evidence", spec.model_dump_json(), source.model_dump_json())
    return idx.remember(key, lambda: _evidence(spec, source, idx))


def _evidence(spec: PredictionSpec, source: PredictionSpec, idx: Index) -> Evidence:
    if spec.kind == "bound":
        return _bound(spec, idx)
    noise = idx.view("all", _always).noise(source.relative)
    if spec.kind == "interaction":
        return _interaction(spec, source, idx, noise)
    view = inside(idx, spec)
    if spec.kind == "equivalence":
        return Evidence("between", tuple(view.scores), noise, margin=score_margin(spec), ids=_ids(view))
    shift = stats.paired_score(1.0, 1.0, spec.direction, spec.threshold, spec.relative)
    return Evidence("mean", tuple(e.score + shift for e in view.items), noise, shift=shift, ids=_ids(view))


def score_margin(spec: PredictionSpec) -> float:
    """An equivalence's or interaction's practical margin on the score's scale: log(1 + m)
    for a relative effect (scores are log-ratios), m itself for an absolute one."""
    m = spec.margin() if spec.kind == "interaction" else spec.threshold
    return math.log1p(m) if spec.relative else m


def _interaction(spec: PredictionSpec, source: PredictionSpec, idx: Index,
                 noise: stats.Pooled) -> Evidence:
    """Effect where the comparison was measured minus the effect where `spec.condition` holds
    (the regions as `regions.region` draws them), less the margin: the reference region's
    scores are shifted down by it, so the difference is positive when the effect is smaller
    by more than the margin and negative when it is not."""
    def where(e: Scored) -> str | None:
        return region(spec, source, lambda c: holds(c, e.record.config, e.record.metrics))

    def in_versus(e: Scored) -> bool:
        return where(e) == "versus"

    def reference(e: Scored) -> bool:
        return where(e) == "main"

    key = spec.model_dump_json()
    there, here = idx.view(("versus", key), in_versus), idx.view(("reference", key), reference)
    m = score_margin(spec)
    return Evidence("difference", tuple(y - m for y in here.scores), noise, versus=tuple(there.scores),
                    shift=-m, ids=_ids(here, there))


def _bound(spec: PredictionSpec, idx: Index) -> Evidence:
    """y = bound - m (lower) or m - bound (higher), per run; noise pooled over every cell
    of the bound's arm, its prior scaled by the runs inside the condition."""
    view = inside(idx, spec)
    prior = stats.PRIOR_ABS_FRACTION * (view.abs_base / len(view.items) if view.items else 1.0)
    noise = idx.view("all", _always).noise(False, prior)
    return Evidence("mean", tuple(view.scores), noise, ids=_ids(view))
