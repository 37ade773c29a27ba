"""Every prediction's confidence and status, from the evidence in the log.

A decision needs two things: the posterior past 0.9 (or below 0.1), and an
anytime-valid e-value for that side past `stats.E_BOUND`. The loop looks after
every run; the posterior alone would then confirm falsely far too often when the
truth sits at the threshold, and the e-value's Ville bound is what stops that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from parser.checker import stats
from parser.checker.evidence import Evidence, gather
from parser.checker.pairs import PairIndexes
from parser.schema import Prediction, ResultRecord

DECIDE = 0.9  # a prediction is decided once its confidence leaves [0.1, 0.9]


@dataclass(frozen=True)
class Verdict:
    id: str
    status: str  # untested | undecided | confirmed | refuted | untestable
    confidence: float | None
    n_pairs: int = 0
    # posterior mean of the effect and its 90% credible interval: a log-ratio (relative),
    # metric units (absolute), the metric's own mean (bound), or the drop in effect
    # between regions (interaction)
    effect: float | None = None
    interval: tuple[float, float] | None = None
    evidence: float | None = None  # e-value for the side the posterior favours
    reason: str = ""
    pairs: list[str] = field(default_factory=list)  # experiment ids that informed it
    basis: str = ""  # how it was read when not by regions alone: along a declared range (`along.py`)
    reading: str = ""  # with a basis: "line", or "regions" where the line's lack of fit sent it back
    lack_of_fit: float | None = None  # with a basis: the lack-of-fit test's p (None: no replicates to test)

    @property
    def decided(self) -> bool:
        return self.status in ("confirmed", "refuted", "untestable")


@dataclass(frozen=True)
class Judgement:
    confidence: float
    status: str
    evidence: float
    posterior: stats.Posterior


def judge(ev: Evidence) -> Judgement | None:
    """Posterior, confidence and guarded status of some evidence; None without scores."""
    if not ev.scores or (ev.kind == "difference" and not ev.versus):
        return None
    if ev.on_line:  # the line's change across the declared range, less the margin (-shift)
        post = ev.range_line.contrast(-ev.shift)
        e_side = lambda side: ev.range_line.evalue(-ev.shift, side)  # noqa: E731
    elif ev.kind == "difference":
        here, there = stats.strata(ev.scores, ev.cells), stats.strata(ev.versus, ev.versus_cells)
        post = stats.stratified_difference(here, there, ev.noise)
        e_side = lambda side: stats.stratified_evalue(here.minus(there), side)  # noqa: E731
    else:
        st = stats.strata(ev.scores, ev.cells)
        post = stats.stratified_mean(st, ev.noise)
        e_side = lambda side: stats.stratified_evalue(st, side)  # noqa: E731
    if ev.kind == "between":
        j = _equivalence(ev, post, st)
    else:
        conf = post.prob_positive()
        side = 1 if conf >= 0.5 else -1
        evidence = e_side(side)
        passed = max(conf, 1 - conf) >= DECIDE and evidence >= stats.E_BOUND
        j = Judgement(conf, ("confirmed" if side > 0 else "refuted") if passed else "undecided", evidence, post)
    if ev.missing and j.status != "undecided":  # a region's verdict reads every level of it
        j = replace(j, status="undecided")
    return j


def _equivalence(ev: Evidence, post: stats.Posterior, st: stats.Strata) -> Judgement:
    """P(-m < mu < m); confirmed by two one-sided e-values (TOST), refuted by either side."""
    m = ev.margin
    conf = post.prob_between(-m, m)
    if conf >= 0.5:  # both one-sided nulls (mu >= m, mu <= -m) must fall
        evidence = min(stats.stratified_evalue(st, -1, -m), stats.stratified_evalue(st, +1, m))
        status = "confirmed" if conf >= DECIDE and evidence >= stats.E_BOUND else "undecided"
    else:  # outside on either side: two chances, so twice the bound
        evidence = max(stats.stratified_evalue(st, +1, -m), stats.stratified_evalue(st, -1, m))
        status = "refuted" if conf <= 1 - DECIDE and evidence >= 2 * stats.E_BOUND else "undecided"
    return Judgement(conf, status, evidence, post)


@dataclass(frozen=True)
class Projection:
    """What `stats.more_scores_to_decide` needs: the scores so far n (a pair of counts for a
    difference), the design cells they lie in, and (which, delta, bound) options."""

    n: int | tuple[int, int]
    cells: int
    options: list[tuple[str, float, float]]


def projection(ev: Evidence) -> Projection:
    """For the estimate and for either end of its 90% credible interval, (which, delta, bound):
    the standardized distance of that effect from the decision it would lead to, and the
    e-value bound to pass there.

      mean, difference:  delta = |mu| / s    (mu the posterior's mean; n = (n_y, n_versus)
                                              for a difference)
      between:           delta = (m - |mu|) / s to confirm, (|mu| - m) / s with twice the
                         bound to refute (either side can refute: `_equivalence`)

    with s the within-cell residuals' own sd, as the guard sees them (the stand-in scale while
    there is no replicate), and the cells the guard's degrees of freedom lose (n - K). The
    interval's ends stand for what the next scores may yet show: an estimate from few
    pairs that sits at the threshold is not yet a truth that does. No scores yet (in a
    region): delta = inf, the fewest scores the guard can decide on.
    """
    n = (len(ev.scores), len(ev.versus)) if ev.kind == "difference" else len(ev.scores)
    j = judge(ev)
    if j is None:
        return Projection(n, 0, [("estimate", math.inf, stats.E_BOUND)])
    s, cells = _guard_scale(ev)
    cells += ev.to_open  # the next pairs open those cells first: each is one more mean to fit
    post = j.posterior
    lo, hi = post.interval()
    options = []
    for which, mu in (("estimate", post.mean), ("interval end", lo), ("interval end", hi)):
        if ev.kind != "between":
            options.append((which, abs(mu) / s, stats.E_BOUND))
        elif abs(mu) < ev.margin:
            options.append((which, (ev.margin - abs(mu)) / s, stats.E_BOUND))
        else:
            options.append((which, (abs(mu) - ev.margin) / s, 2 * stats.E_BOUND))
    if ev.kind == "between" and lo < 0 < hi:  # no difference at all is inside the interval
        options.append(("interval end", ev.margin / s, stats.E_BOUND))
    return Projection(n, cells, options)


def _guard_scale(ev: Evidence) -> tuple[float, int]:
    """(s, K): the scale the guard's t uses and the cells its degrees of freedom lose."""
    if ev.on_line:  # the line's residual scale (the projection keeps the regions' counts: a rough reach)
        return ev.range_line.fitted.sample_sd() or ev.noise.scale, 2
    st = stats.strata(ev.scores, ev.cells)
    if ev.kind == "difference":
        st = st.minus(stats.strata(ev.versus, ev.versus_cells))
    return st.sd() or ev.noise.scale, st.k


def more_to_decide(ev: Evidence, bound: float | None = None, limit: int = 1000) -> int | None:
    """The fewest more scores after which the guard would decide were the effect to stay at its
    estimate: the forecast to show a reader ("about k more pairs"), read off the guard's own
    scale and degrees of freedom, so that it comes true if the estimate holds, and is revised
    by the next scores otherwise. None when the estimate sits at the threshold."""
    p = projection(ev)
    which, delta, at = next(o for o in p.options if o[0] == "estimate")
    return stats.more_scores_to_decide(delta, p.n, bound=bound or at, limit=limit, cells=p.cells)


UNREPORTED_AFTER = 2  # completed runs without the metric: a pair's worth, so not one odd run


def unreported(metric: str, records: list[ResultRecord]) -> str | None:
    """Why a prediction on `metric` cannot be judged: no completed run reports it as a number
    (steps_to_target reads the val curve), after UNREPORTED_AFTER runs; None otherwise."""
    done = [r.metrics or {} for r in records if r.status == "completed"]
    key = "val_curve" if metric == "steps_to_target" else metric
    if len(done) < UNREPORTED_AFTER or any(_reported(m.get(key)) for m in done):
        return None
    names = sorted({k for m in done for k, v in m.items() if _reported(v)})
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"no run reports {metric!r} ({len(done)} completed runs; their metrics files hold {shown})"


def _reported(value) -> bool:
    if isinstance(value, list):
        return bool(value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def since(records: list[ResultRecord], after: str | None) -> list[ResultRecord]:
    """The records after experiment `after` (all of them when None)."""
    if after is None:
        return records
    ids = [r.experiment_id for r in records]
    return records[ids.index(after) + 1:] if after in ids else records


def assess(prediction: Prediction, by_id: dict[str, Prediction], records: list[ResultRecord],
           unreachable: str | None = None, indexes: PairIndexes | None = None) -> Verdict:
    ev = gather(prediction, by_id, since(records, prediction.after), indexes)
    j = judge(ev)
    if j is None:
        why = unreachable or unreported(prediction.spec.metric, records)
        if why:
            return Verdict(prediction.id, "untestable", None, reason=why)
        return Verdict(prediction.id, "untested", None)
    effect, interval = _effect(prediction, ev, j.posterior)
    line = ev.range_line
    return Verdict(prediction.id, j.status, j.confidence, ev.n, effect, interval, j.evidence,
                   pairs=list(ev.ids), basis=line.text() if line else "",
                   reading=("line" if line.straight else "regions") if line else "",
                   lack_of_fit=line.lack_of_fit.p if line and line.lack_of_fit else None)


def _effect(prediction: Prediction, ev: Evidence, post: stats.Posterior):
    """Report the effect itself, not the thresholded score."""
    lo, hi = post.interval()
    spec = prediction.spec
    if spec.kind == "bound":
        sign = 1 if spec.direction == "lower" else -1
        ends = sorted((spec.threshold - sign * lo, spec.threshold - sign * hi))
        return spec.threshold - sign * post.mean, (ends[0], ends[1])
    return post.mean - ev.shift, (lo - ev.shift, hi - ev.shift)


def assess_all(predictions: list[Prediction], records: list[ResultRecord],
               unreachable: dict[str, str] | None = None,
               indexes: PairIndexes | None = None) -> dict[str, Verdict]:
    by_id = {p.id: p for p in predictions}
    unreachable = unreachable or {}
    indexes = indexes or PairIndexes()
    return {p.id: assess(p, by_id, records, unreachable.get(p.id), indexes) for p in predictions}
