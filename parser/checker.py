"""Every prediction's confidence, recomputed from the completed runs in the log.

A pair is two completed runs identical in every factor but the compared one, with
the same seed. Its score is `stats.paired_score`; the posterior and the pooling of
seed noise are in `parser/stats.py`.

A decision needs two things: the posterior past 0.9 (or below 0.1), and an
anytime-valid e-value for that side past `stats.E_BOUND`. The loop looks after
every run; the posterior alone would then confirm falsely far too often when the
truth sits at the threshold, and the e-value's Ville bound is what stops that.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from executor.config import PLUMBING
from parser import stats
from parser.schema import Prediction, PredictionSpec, ResultRecord

DECIDE = 0.9  # a prediction is decided once its confidence leaves [0.1, 0.9]


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
class Verdict:
    id: str
    status: str  # untested | undecided | confirmed | refuted | untestable
    confidence: float | None
    n_pairs: int = 0
    effect: float | None = None  # posterior mean of the benefit (log-ratio or metric units)
    interval: tuple[float, float] | None = None  # 90% credible interval of the benefit
    evidence: float | None = None  # e-value for the side the posterior favours
    reason: str = ""
    pairs: list[str] = field(default_factory=list)  # experiment ids that informed it

    @property
    def decided(self) -> bool:
        return self.status in ("confirmed", "refuted", "untestable")


def same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def cell_key(config: dict, factor: str) -> tuple:
    return tuple(sorted((k, v) for k, v in config.items()
                        if k not in PLUMBING and k not in (factor, "seed")))


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


def _benefits(spec: PredictionSpec, pairs: list[Pair]) -> list[tuple[Pair, float, tuple]]:
    out = []
    for p in pairs:
        values = metric_values(spec, p)
        z = values and stats.benefit(values[0], values[1], spec.direction, spec.relative)
        if z is not None and values:
            out.append((p, z, values))
    return out


def _noise(spec: PredictionSpec, scored: list) -> stats.Pooled:
    cells = defaultdict(list)
    for p, z, _ in scored:
        cells[p.cell].append(z)
    if spec.relative:
        prior = stats.PRIOR_LOG_SCALE
    else:
        prior = stats.PRIOR_ABS_FRACTION * (sum(abs(v[1]) for _, _, v in scored) / len(scored))
    return stats.pooled_noise(list(cells.values()), max(prior, 1e-12))


def _decide(confidence: float, e_for, e_against) -> tuple[str, float]:
    """(status, evidence): past 0.9 either way *and* past the e-value bound that way."""
    if confidence >= 0.5:
        evidence = e_for()
        return ("confirmed" if confidence >= DECIDE and evidence >= stats.E_BOUND else "undecided"), evidence
    evidence = e_against()
    return ("refuted" if confidence <= 1 - DECIDE and evidence >= stats.E_BOUND else "undecided"), evidence


def assess(prediction: Prediction, predictions: dict[str, Prediction],
           records: list[ResultRecord], unreachable: str | None = None) -> Verdict:
    spec = prediction.spec
    source = predictions[spec.of].spec if spec.kind == "interaction" else spec
    scored = _benefits(source, find_pairs(source, records))
    if spec.kind == "interaction":
        return _interaction(prediction, source, scored, unreachable)
    in_region = [s for s in scored if spec.condition is None or spec.condition.holds(s[0].value(spec.condition.variable))]
    if not in_region:
        return _empty(prediction.id, unreachable)
    noise = _noise(spec, scored)
    threshold_shift = stats.paired_score(1.0, 1.0, spec.direction, spec.threshold, spec.relative)
    scores = [z + threshold_shift for _, z, _ in in_region]
    post = stats.region_mean(scores, noise)
    conf = post.prob_positive()
    status, evidence = _decide(conf, lambda: stats.one_sample_evalue(scores, +1),
                               lambda: stats.one_sample_evalue(scores, -1))
    lo, hi = post.interval()
    return Verdict(prediction.id, status, conf, len(in_region), post.mean - threshold_shift,
                   (lo - threshold_shift, hi - threshold_shift), evidence, pairs=_ids(in_region))


def _interaction(prediction: Prediction, source: PredictionSpec, scored: list,
                 unreachable: str | None) -> Verdict:
    here = prediction.spec.condition

    def where_measured(p: Pair) -> bool:
        if source.condition is not None:
            return source.condition.holds(p.value(source.condition.variable))
        return not here.holds(p.value(here.variable))

    inside = [s for s in scored if here.holds(s[0].value(here.variable))]
    reference = [s for s in scored if where_measured(s[0]) and s not in inside]
    if not inside or not reference:
        return _empty(prediction.id, unreachable)
    ref, ins = [z for _, z, _ in reference], [z for _, z, _ in inside]
    post = stats.difference(ref, ins, _noise(source, scored))
    conf = post.prob_positive()
    status, evidence = _decide(conf, lambda: stats.two_sample_evalue(ref, ins, +1),
                               lambda: stats.two_sample_evalue(ref, ins, -1))
    return Verdict(prediction.id, status, conf, len(inside) + len(reference), post.mean,
                   post.interval(), evidence, pairs=_ids(inside + reference))


def _empty(pid: str, unreachable: str | None) -> Verdict:
    if unreachable:
        return Verdict(pid, "untestable", None, reason=unreachable)
    return Verdict(pid, "untested", None)


def _ids(scored: list) -> list[str]:
    return [e for p, _, _ in scored for e in (p.arm.experiment_id, p.base.experiment_id)]


def assess_all(predictions: list[Prediction], records: list[ResultRecord],
               unreachable: dict[str, str] | None = None) -> dict[str, Verdict]:
    by_id = {p.id: p for p in predictions}
    unreachable = unreachable or {}
    return {p.id: assess(p, by_id, records, unreachable.get(p.id)) for p in predictions}
