"""What each prediction found, in its own terms, for trajectory.json and every report.

For each prediction: the effect (`trajectory.effects`, the one translation of the
checker's scores), a plain sentence (nulls included), the effect per design cell
(the dashboard's forest plot, each pair with its own value) and, while it is open,
what would decide it: the fewest more pairs at the current estimate and noise
(`parser.checker.stats.more_scores_to_decide`), the runs and seconds they cost, and where.
The scores come from the checker's own evidence, so the numbers are the verdict's.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from parser.checker import scoring, stats
from parser.checker.evidence import gather, inside, score_margin
from parser.checker.pairs import PairIndexes, holds
from parser.checker.regions import region, source_spec
from parser.checker.verdicts import Verdict, more_to_decide, since
from parser.schema import Prediction, PredictionSpec, ResultRecord
from trajectory import curves, effects, sides

LIMIT = 1000  # more pairs than this: "the estimate sits at the threshold"


@dataclass(frozen=True)
class Scores:
    """A prediction's scores by region (one region but for an interaction) and its pooled noise."""

    regions: dict[str, list]  # region words -> the Scored entries (pairs, or a bound's runs)
    noise: stats.Pooled
    evidence: object = None  # the checker's Evidence: what the guard reads, for the forecast


def scores(prediction: Prediction, by_id: dict[str, Prediction], records: list[ResultRecord],
           ranges: dict | None = None, indexes: PairIndexes | None = None) -> Scores:
    """By region; the noise is the verdict's (a line's along a declared range in `ranges`),
    read through `indexes` where they read along the same ranges (else afresh)."""
    spec = prediction.spec
    if indexes is None or indexes.ranges != dict(ranges or {}):
        indexes = PairIndexes(ranges)
    records = since(records, prediction.after)
    evidence = gather(prediction, by_id, records, indexes)
    noise = evidence.noise
    if spec.kind == "interaction":
        source = source_spec(prediction, by_id)
        ref_where, there_where = effects.regions(spec, source)
        by_region = {"main": [], "versus": []}
        for e in indexes.index(source, records).scored:  # the checker's own regions (parser/checker/regions.py)
            where = region(spec, source, lambda c, e=e: holds(c, e.record.config, e.record.metrics))
            if where in by_region:
                by_region[where].append(e)
        return Scores({ref_where: by_region["main"], there_where: by_region["versus"]}, noise, evidence)
    idx = indexes.index(spec, records, bound=spec.kind == "bound")
    return Scores({"": list(inside(idx, spec).items)}, noise, evidence)


def _value(e) -> float:
    return e.score  # the benefit of a pair (a bound's run: bound - metric, or metric - bound)


def _posterior(entries: list, noise: stats.Pooled) -> stats.Posterior:
    return stats.region_mean([_value(e) for e in entries], noise)


def _translate(spec: PredictionSpec, source: PredictionSpec, post: stats.Posterior) -> effects.Effect:
    if spec.kind == "bound":
        lo, hi = post.interval()
        return effects.bound(spec, effects.bound_mean(spec, post.mean),
                             (effects.bound_mean(spec, lo), effects.bound_mean(spec, hi)))
    return effects.comparison(source, post.mean, post.interval())


def effect(prediction: Prediction, by_id: dict[str, Prediction], verdict: Verdict, found: Scores | None):
    """The verdict's estimate in the prediction's terms (an `Effect`, or an `Interaction`); None without one."""
    spec = prediction.spec
    if verdict.effect is None or not verdict.interval:
        return None
    if spec.kind == "bound":
        return effects.bound(spec, verdict.effect, verdict.interval)
    if spec.kind != "interaction":
        return effects.comparison(spec, verdict.effect, verdict.interval)
    source = by_id[spec.of].spec
    (_, ref), (_, there) = found.regions.items()
    r, t = _posterior(ref, found.noise), _posterior(there, found.noise)
    return effects.interaction(spec, source, (r.mean, r.interval()), (t.mean, t.interval()),
                               verdict.effect, verdict.interval)


def cells(prediction: Prediction, by_id: dict[str, Prediction], found: Scores, varying: list[str]) -> list[dict]:
    """The effect in each design cell (each region's cells for an interaction), with its pairs."""
    spec = prediction.spec
    source = by_id[spec.of].spec if spec.kind == "interaction" else spec
    out = []
    for where, entries in found.regions.items():
        groups: dict[tuple, list] = {}
        for e in entries:  # the cell as the user's grid names it (a default value included)
            cell = tuple((k, e.record.config.get(k)) for k in varying if k != source.factor)
            groups.setdefault(cell, []).append(e)
        for cell, group in groups.items():
            est = _translate(spec, source, _posterior(group, found.noise))
            out.append({"region": where, "cell": dict(cell), "n": len(group),
                        **est.as_dict(),
                        "pairs": [{"ids": list(e.ids), "seed": e.record.seed,
                                   "value": _one(spec, source, _value(e))} for e in group]})
    return out


def _one(spec: PredictionSpec, source: PredictionSpec, value: float) -> float:
    return effects.bound_mean(spec, value) if spec.kind == "bound" else effects.in_terms(source, value)


def cell_words(cell: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in cell.items()) or "the one cell"


def to_decide(prediction: Prediction, by_id: dict[str, Prediction], verdict: Verdict, found: Scores,
              run_seconds: float | None, cell_list: list[dict]) -> dict | None:
    """What would settle an open prediction at the current estimate and noise; None once decided."""
    if verdict.status not in ("undecided", "untested"):
        return None
    spec = prediction.spec
    unit = "runs" if spec.kind == "bound" else "pairs"
    per = 1 if spec.kind == "bound" else 2
    delta, n, where = _standardized(spec, found)
    if spec.kind != "interaction" and found.evidence is not None and verdict.status == "undecided":
        k = more_to_decide(found.evidence, limit=LIMIT)  # the guard's own scale and df: it comes true or is revised
    else:
        k = stats.more_scores_to_decide(delta, n, bound=_bound(spec, found), limit=LIMIT)
    missing = sorted(found.evidence.missing) if found.evidence is not None else []
    if k is not None:
        # open: at least one more (the guard reads its own scores, this projection the noise),
        # and one at each declared level of its region that has none yet (`Evidence.to_open`)
        k = max(k, 1, found.evidence.to_open if found.evidence is not None else 0)
    if k is None:
        return {"pairs": None, "runs": None, "seconds": None, "cells": [],
                "text": f"the estimate sits at the threshold: more than {LIMIT} {unit} at the current noise"}
    runs = k * per
    seconds = runs * run_seconds if run_seconds else None
    if k == 1:
        unit = unit[:-1]  # "about 1 more pair"
    cost = f"{runs} runs" + (f", ~{_duration(seconds)}" if seconds else "")
    shown = [c for c in cell_list if not where or c["region"] == where] or cell_list
    cells_text = "; ".join(f"{cell_words(c['cell'])} ({c['n']})"
                           for c in shown)
    if missing and verdict.status == "undecided":
        first = ", ".join(f"{name}={value}" for _, name, value in missing)
        text = (f"about {k} more {unit} ({cost}) if the estimate holds, first at {first}, where none ran yet "
                f"(a verdict on a region reads every level it spans); {unit} so far: {cells_text or 'none'}")
    elif verdict.status == "untested":
        place = f" where {spec.condition.text()}" if spec.condition else ""
        text = f"at least {k} {unit} ({cost}){place}: the fewest the guard can decide on"
    elif spec.kind == "interaction":
        text = (f"about {k} more {unit} ({cost}) if the estimate holds, first where {where}, then in "
                f"both regions alike; {unit} so far where {where}: {cells_text or 'none'}")
    else:
        text = f"about {k} more {unit} ({cost}) if the estimate holds, in its cells ({unit} so far): {cells_text}"
    return {"pairs": k, "runs": runs, "seconds": seconds, "cells": [c["cell"] for c in shown], "text": text}


def _standardized(spec: PredictionSpec, found: Scores):
    """(delta, n, region where more scores go first) for `more_scores_to_decide`."""
    s = found.noise.scale
    if spec.kind == "interaction":
        (ref_where, ref), (there_where, there) = found.regions.items()
        if not ref or not there:
            return math.inf, (len(ref), len(there)), ref_where if not ref else there_where
        diff = _avg(ref) - _avg(there) - score_margin(spec)
        return diff / s, (len(ref), len(there)), ref_where if len(ref) < len(there) else there_where
    entries = found.regions[""]
    if not entries:
        return math.inf, 0, ""
    m = _avg(entries)
    if spec.kind == "equivalence":
        return (score_margin(spec) - abs(m)) / s, len(entries), ""
    if spec.kind == "comparison":
        m += scoring.paired_score(1.0, 1.0, spec.direction, spec.threshold, spec.relative)
    return m / s, len(entries), ""


def _bound(spec: PredictionSpec, found: Scores) -> float:
    """An equivalence refuted on either side needs twice the bound (`parser.checker`)."""
    if spec.kind == "equivalence" and found.regions[""]:
        if abs(_avg(found.regions[""])) >= score_margin(spec):
            return 2 * stats.E_BOUND
    return stats.E_BOUND


def _avg(entries: list) -> float:
    return math.fsum(_value(e) for e in entries) / len(entries)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run_seconds(records: list[ResultRecord]) -> float | None:
    """The median wall time of the completed runs: what one more run is expected to cost."""
    times = [max(r.wall_time_s, (r.metrics or {}).get("train_time_s") or 0.0)  # the simulator reports
             for r in records if r.status == "completed"]  # a training time its runs never spend
    times = [t for t in times if t > 0]
    return statistics.median(times) if times else None


def finding(prediction: Prediction, by_id: dict[str, Prediction], records: list[ResultRecord],
            verdict: Verdict, varying: list[str], seconds: float | None, ranges: dict | None = None,
            mass: float = curves.MASS, indexes: PairIndexes | None = None) -> dict:
    """Everything a reader needs about one prediction's result, in its own terms (`mass`: its
    curve's crossing interval, `curves.STOPPED_MASS` in a study its verdicts stopped). `indexes`:
    what the writer has read of the log so far (a fresh reading without), never the loop's own."""
    if verdict.status == "untestable":
        return {"effect": None, "text": None, "sentence": f"untestable in this space: {verdict.reason}",
                "cells": [], "to_decide": None, "evidence": None}
    found = scores(prediction, by_id, records, ranges, indexes)
    est = effect(prediction, by_id, verdict, found)
    cell_list = cells(prediction, by_id, found, varying)
    return {"effect": est.as_dict() if est else None, "text": est.text() if est else None,
            "sentence": effects.sentence(prediction.spec, verdict.status, est),
            "cells": cell_list, "to_decide": to_decide(prediction, by_id, verdict, found, seconds, cell_list),
            "evidence": sides.of_verdict(prediction.spec, source_spec(prediction, by_id), verdict),
            "curve": curves.for_prediction(prediction, by_id, records, indexes, mass=mass),
            "caveat": unreached(source_spec(prediction, by_id), found)}


def unreached(source: PredictionSpec, found: Scores) -> str | None:
    """Where the loss target written in the prediction was not reached: such a run counts its
    last step (`scoring.steps_to_target`), which pulls its pair's ratio towards 1. None where
    every run reached it, or the prediction writes no target."""
    if source.target is None:
        return None
    entries = [e for es in found.regions.values() for e in es if e.pair is not None]
    short = sum(any(min((loss for _, loss in (r.metrics or {}).get("val_curve") or [[0, math.inf]]),
                        default=math.inf) > source.target for r in (e.pair.arm, e.pair.base)) for e in entries)
    if not short:
        return None
    return (f"in {short} of {len(entries)} pairs a run never reached val loss {source.target:g}; "
            f"it counts its last step, which pulls the ratio towards 1 (the effect is understated there: "
            f"a higher loss target, or more steps, would tell)")


