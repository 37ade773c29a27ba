"""The offline planner: no LLM, deterministic, aimed at the least certain prediction.

Each proposal is one seed-paired comparison: both arms of a prediction's factor in
one design cell with one shared seed. It goes after the undecided prediction whose
confidence is nearest 0.5 (the most binary entropy), in the region of the space
that prediction is about, spreading replicates over that region's cells before
repeating a cell. A pair left half-done (a crash, a kill) is finished first.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from executor.config import FACTORS
from parser import stats
from parser.checker import Verdict, cell_key, same
from parser.schema import Prediction, ResultRecord
from planner.space import Space, regions

MAX_CELL_FAILURES = 2  # a cell that crashed this often is left alone


@dataclass(frozen=True)
class Proposal:
    runs: list[dict]  # design points to run, in order; the seed is in each
    targets: list[str]
    rationale: str
    planner: str = "offline"
    extra: dict = field(default_factory=dict)


@dataclass
class OfflinePlanner:
    max_seeds: int = 5  # replicates per cell before the cell counts as used up
    base_seed: int = 0
    name: str = "offline"

    def propose(self, predictions: list[Prediction], verdicts: dict[str, Verdict],
                records: list[ResultRecord], space: Space) -> Proposal | None:
        by_id = {p.id: p for p in predictions}
        open_ = [p for p in predictions if not verdicts[p.id].decided]
        finish = self._unfinished_pair(open_, by_id, records, space)
        if finish:
            return finish
        open_.sort(key=lambda p: -_entropy(verdicts[p.id]))
        for prediction in open_:
            proposal = self._pair_for(prediction, by_id, verdicts[prediction.id], records, space)
            if proposal:
                return proposal
        return None

    def _pair_for(self, prediction, by_id, verdict, records, space) -> Proposal | None:
        spec = by_id[prediction.spec.of].spec if prediction.spec.kind == "interaction" else prediction.spec
        tried = _tried(records, spec.factor)
        failures = Counter(cell_key(r.config, spec.factor) for r in records if r.status != "completed")
        per_region = []
        for condition in regions(prediction, by_id):
            # a cell whose N is not known yet is worth one run: it will tell
            cells = [c for c in space.cells(spec.factor) if space.in_region(c, condition) is not False
                     and failures[_key(c, spec.factor)] < MAX_CELL_FAILURES]
            used = sum(len(tried[_key(c, spec.factor)]) for c in cells)
            per_region.append((used, cells))
        for used, cells in sorted(per_region, key=lambda x: x[0]):
            ranked = sorted(enumerate(cells), key=lambda ic: (len(tried[_key(ic[1], spec.factor)]), ic[0]))
            for _, cell in ranked:
                seeds = tried[_key(cell, spec.factor)]
                if len(seeds) >= self.max_seeds:
                    continue
                seed = next(s for s in range(self.base_seed, self.base_seed + 10**6) if s not in seeds)
                runs = [dict(cell, **{spec.factor: value, "seed": seed}) for value in (spec.arm, spec.baseline)]
                conf = "untested" if verdict.confidence is None else f"confidence {verdict.confidence:.2f}"
                why = (f"{prediction.id} is the least certain open prediction ({conf}); "
                       f"this cell has {len(seeds)} of {self.max_seeds} seeds")
                return Proposal(runs, [prediction.id], why, self.name)
        return None

    def _unfinished_pair(self, open_, by_id, records, space) -> Proposal | None:
        ran = {(cell_key(r.config, ""), r.seed) for r in records}
        for prediction in open_:
            spec = by_id[prediction.spec.of].spec if prediction.spec.kind == "interaction" else prediction.spec
            for r in records:
                value = r.config.get(spec.factor)
                if r.status != "completed" or not (same(value, spec.arm) or same(value, spec.baseline)):
                    continue
                other = spec.baseline if same(value, spec.arm) else spec.arm
                partner = dict({k: v for k, v in r.config.items() if k in FACTORS},
                               **{spec.factor: other})
                if (cell_key(partner, ""), r.seed) not in ran:
                    why = f"finishing the pair of {r.experiment_id} (same cell, seed {r.seed})"
                    return Proposal([partner], [prediction.id], why, self.name, {"pair": r.experiment_id})
        return None


def _key(cell: dict, factor: str) -> tuple:
    return cell_key(cell, factor)


def _tried(records: list[ResultRecord], factor: str) -> dict[tuple, set[int]]:
    out: dict[tuple, set[int]] = {}
    for r in records:
        out.setdefault(cell_key(r.config, factor), set()).add(r.seed)
    return _DefaultSet(out)


class _DefaultSet(dict):
    def __missing__(self, key):
        return set()


def _entropy(verdict: Verdict) -> float:
    return 1.0 if verdict.confidence is None else stats.binary_entropy(verdict.confidence)
