"""The offline planner: no LLM, deterministic, by expected information gain per second.

Candidates are the next seed of every design cell an open prediction can use (a
seed-paired comparison of its two arms, or one run for a bound). Each candidate
is worth the information it is expected to add to every open prediction it
informs (`planner/gain.py`), divided by its expected cost in seconds from past runs
of the same shape. Replicates go where a verdict is unclear; a clear one gets none.
A factor declared as a range is never out of cells: once a region's cells have
--max-seeds each, the next goes to a value of the range the grid does not hold yet.
A pair left half-done (a crash, a kill) is finished first.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from parser.checker.verdicts import Verdict, since
from parser.checker.early_stop import stop_target
from parser.checker.evidence import covered, gather
from parser.checker.regions import source_spec
from parser.design import cell_key, pair_key, run_key, same
from parser.schema import Prediction, ResultRecord
from planner.gain import expected_gain, predictive, uncertainty
from planner.base import Indexes, Proposal
from planner.ledger import Ledger
from planner.reach import Reach, explain, reach
from planner.space import MAX_CELL_FAILURES, Space, region_of

MIN_GAIN = 0.01  # bits: below this nothing is worth running


@dataclass
class Candidate:
    runs: tuple[dict, ...]
    cost: float
    order: tuple  # (not a second seed, seeds in the cell, grid position): the tie-break
    gain: float = 0.0
    targets: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.gain / self.cost


@dataclass
class OfflinePlanner:
    max_seeds: int = 5  # replicates per design cell
    base_seed: int = 0
    max_runs: int | None = None  # the study's experiment budget: how far the reach looks
    name: str = "offline"

    def propose(self, predictions: list[Prediction], verdicts: dict[str, Verdict],
                records: list[ResultRecord], space: Space, pending: tuple[dict, ...] = (),
                indexes: Indexes | None = None) -> Proposal | None:
        """The best next run(s). `pending`: design points already started or queued (with
        --workers): they are never proposed again, and a region they will add to is worth
        less, as if each of them had scored what the region is expected to score.

        When no candidate is worth MIN_GAIN by the gain's short look-ahead, a prediction
        that the budget can still decide (`planner/reach.py`) keeps the study going: the
        best-ranked candidate for it runs. None only when nothing could decide any."""
        by_id = {p.id: p for p in predictions}
        open_ = [p for p in predictions if not verdicts[p.id].decided]
        indexes = indexes or Indexes()
        finish = _unfinished_pair(open_, by_id, indexes.ledger.update(records), pending)
        if finish:
            return finish
        ranked, reaches = self.survey(open_, by_id, records, space, pending, indexes)
        best = ranked[0] if ranked else None
        if best is not None and best.gain >= MIN_GAIN:
            why = (f"expected gain {best.gain:.3f} bits for {', '.join(best.targets)} in ~{best.cost:.1f} s; "
                   f"best of {len(ranked)} candidates")
        else:
            still = {pid: r for pid, r in reaches.items() if r.reachable}
            best = next((c for c in ranked if still.keys() & set(c.targets)), None)
            if best is None:
                return None
            pid = next(t for t in best.targets if t in still)
            why = (f"{pid} can still be decided in budget: about {still[pid].scores} more {still[pid].unit} "
                   f"({still[pid].runs} runs) at the estimate or its interval's end, beyond the gain's look-ahead "
                   f"(expected gain {best.gain:.3f} bits now); best of {len(ranked)} candidates")
        return Proposal(list(best.runs), best.targets, why, self.name,
                        gain=round(best.gain, 4), cost_s=round(best.cost, 2))

    def rank(self, open_: list[Prediction], by_id: dict[str, Prediction], records: list[ResultRecord],
             space: Space, pending: tuple[dict, ...] = (), indexes: Indexes | None = None) -> list[Candidate]:
        """Every candidate with its gain, best gain per second first."""
        return self.survey(open_, by_id, records, space, pending, indexes)[0]

    def survey(self, open_: list[Prediction], by_id: dict[str, Prediction], records: list[ResultRecord],
               space: Space, pending: tuple[dict, ...] = (),
               indexes: Indexes | None = None) -> tuple[list[Candidate], dict[str, Reach]]:
        """The ranked candidates, and each open prediction's reach within the budget."""
        pool: dict[tuple, Candidate] = {}
        reaches: dict[str, Reach] = {}
        indexes = indexes or Indexes()
        ledger = indexes.ledger.update(records)
        runs_left = 10**9 if self.max_runs is None else self.max_runs - len(records) - len(pending)
        predictions = list(by_id.values())
        for prediction in open_:
            ev = gather(prediction, by_id, since(records, prediction.after), indexes.pairs)
            ev = _with_pending(ev, prediction, by_id, space, pending)
            if uncertainty(ev) == 0.0:
                continue
            gains, room = {}, 0  # region -> gain: the same for every cell of a region (but one at its missing levels)
            factor = source_spec(prediction, by_id).factor if prediction.spec.kind != "bound" else ""
            for runs, region, order, left in self._cells(prediction, by_id, ledger, space, pending):
                room += left
                if runs is None:
                    continue
                cell = cell_key(runs[0], factor)
                new = covered(ev.missing, region, cell)
                if new:  # levels the region has no score at yet: what this cell's first pair adds
                    if new not in gains:
                        gains[new] = expected_gain(ev, versus=region == "versus", cell=cell)
                    region = new
                elif region not in gains:
                    gains[region] = expected_gain(ev, versus=region == "versus") if region != "unknown" \
                        else 0.5 * uncertainty(ev)  # one run will tell where this cell lies
                key = tuple(run_key(r) for r in runs)
                if key not in pool:
                    cost = sum(ledger.seconds(r, stop_target(predictions, records, r, indexes.pairs)) for r in runs)
                    pool[key] = Candidate(runs, cost, order)
                cand = pool[key]
                cand.gain += gains[region]
                cand.targets.append(prediction.id)
            reaches[prediction.id] = reach(prediction.id, ev, room, runs_left,
                                           1 if prediction.spec.kind == "bound" else 2)
        return sorted(pool.values(), key=lambda c: (-c.score, c.order)), reaches

    def why_open(self, predictions: list[Prediction], verdicts: dict[str, Verdict], records: list[ResultRecord],
                 space: Space, indexes: Indexes | None = None) -> str:
        """Which predictions stay open, or untestable, and why nothing left can decide them."""
        by_id = {p.id: p for p in predictions}
        open_ = [p for p in predictions if not verdicts[p.id].decided]
        _, reaches = self.survey(open_, by_id, records, space, (), indexes)
        untestable = {p.id: verdicts[p.id].reason for p in predictions if verdicts[p.id].status == "untestable"}
        return explain(list(reaches.values()), untestable)

    def _cells(self, prediction, by_id, ledger: Ledger, space: Space, pending: tuple[dict, ...]):
        """(runs, region, order, seeds left) for the next seed of every usable cell. A range
        factor has room beyond the grid's values (`_fresh`): its seeds count in every region,
        and where every cell of a region has all its seeds, the region's next cell is there
        (runs None while the region still has a cell with a seed left)."""
        spec, source = prediction.spec, source_spec(prediction, by_id)
        factor = source.factor if spec.kind != "bound" else ""
        logged, failed = ledger.cells(factor)
        seeds = defaultdict(set)
        for point in pending:
            seeds[cell_key(point, factor)].add(point.get("seed"))
        cells = space.points() if spec.kind == "bound" else space.cells(factor)
        first: dict[str, dict] = {}  # region -> its first cell
        open_regions = set()  # regions with a cell that has a seed left
        for position, cell in enumerate(cells):
            if spec.kind == "bound" and spec.factor and not same(cell.get(spec.factor), spec.arm):
                continue
            region = _region(prediction, source, cell, space)
            if region is None:
                continue
            first.setdefault(region, cell)
            key = cell_key(cell, factor)
            used = logged.get(key, set()) | seeds.get(key, set())
            if len(used) >= self.max_seeds or failed[key] >= MAX_CELL_FAILURES:
                continue
            open_regions.add(region)
            # a cell's second seed first: it measures the seed noise the posterior pools
            # over every region; then the cells with the fewest seeds, in grid order
            yield self._next(cell, used, factor, spec, source), region, (len(used) != 1, len(used), position), \
                self.max_seeds - len(used)
        for region, cell in first.items():
            found = None if region == "unknown" else _fresh(prediction, source, factor, space, region, cell)
            if found is None:
                continue
            fresh, left = found
            key = cell_key(fresh, factor)
            used = logged.get(key, set()) | seeds.get(key, set())
            runs = None if region in open_regions else self._next(fresh, used, factor, spec, source)
            yield runs, region, (True, len(used), len(cells)), self.max_seeds * left - len(used)

    def _next(self, cell: dict, used: set, factor: str, spec, source) -> tuple[dict, ...]:
        """The runs of a cell's next seed: the pair of arms, or one run for a bound."""
        seed = next(s for s in range(self.base_seed, self.base_seed + 10**6) if s not in used)
        arms = [None] if spec.kind == "bound" else [source.arm, source.baseline]
        return tuple(dict(cell, seed=seed) if a is None else dict(cell, **{factor: a, "seed": seed})
                     for a in arms)


def _fresh(prediction: Prediction, source, factor: str, space: Space, region: str, cell: dict):
    """(`cell` at a new value of a range factor, how many such values are left) that keep
    it in `region`, the value farthest from the grid's first (`Space.fresh`); None if none."""
    for name in space.ranges:
        if name == factor:
            continue
        values = space.fresh(name, lambda v: _region(prediction, source, dict(cell, **{name: v}), space) == region)
        if values:
            return dict(cell, **{name: values[0]}), len(values)
    return None


def _with_pending(ev, prediction: Prediction, by_id: dict[str, Prediction], space: Space,
                  pending: tuple[dict, ...]):
    """The evidence as if each pending pair (a bound: run) had scored its region's expected score.

    What a run in flight will add is not known yet, but that it will add is: counting it
    at the predictive centre shrinks the posterior as it will, so the next proposal goes
    where the runs in flight leave the most open ("kriging believer" batching).
    """
    if not pending:
        return ev
    spec, source = prediction.spec, source_spec(prediction, by_id)
    factor = source.factor if spec.kind != "bound" else ""
    groups = {}
    for point in pending:
        if spec.kind != "bound" and not (same(point.get(factor), source.arm)
                                         or same(point.get(factor), source.baseline)):
            continue
        if spec.kind == "bound" and spec.factor and not same(point.get(spec.factor), spec.arm):
            continue
        cell = {k: v for k, v in point.items() if k not in (factor, "seed")}
        groups.setdefault(pair_key(point, factor), cell)
    for (key, _), cell in groups.items():
        region = _region(prediction, source, cell, space)
        if region in ("main", "versus"):
            versus = region == "versus"
            if ev.kind != "difference" or (ev.versus if versus else ev.scores):
                ev = ev.plus(predictive(ev, versus)[0], versus, key if covered(ev.missing, region, key) else None)
    return ev


def _region(prediction: Prediction, source, cell: dict, space: Space) -> str | None:
    return region_of(prediction.spec, source, cell, space)


def _unfinished_pair(open_, by_id, ledger: Ledger, pending: tuple[dict, ...]) -> Proposal | None:
    """A pair left half-done (a crash, a kill) is finished first, unless its partner is in flight."""
    in_flight = {run_key(p) for p in pending}
    for prediction in open_:
        if prediction.spec.kind == "bound":
            continue
        for r, partner in ledger.unpaired(source_spec(prediction, by_id)):
            if run_key(partner) not in in_flight:
                why = f"finishing the pair of {r.experiment_id} (same cell, seed {r.seed})"
                return Proposal([partner], [prediction.id], why, "offline", pair=r.experiment_id)
    return None
