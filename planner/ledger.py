"""What the planner reads from the log, kept up to date as the log grows.

Which (design point, seed) already ran, the seeds and failures of each design
cell, the seconds a run of each shape takes (and how much less one that stops at a
loss target: where its design point's earlier curves crossed it), and the finished
runs still waiting for their seed-paired partner. Reading these from the whole log at every proposal
made a long study's planning grow with its length; a ledger reads each record once.
The study owns its ledger (`planner.base.Indexes`) and hands it to the planner.
"""
from __future__ import annotations

import bisect
from collections import Counter, defaultdict

from run_config import is_factor
from parser.checker.pairs import extends
from parser.design import cell_key, point_key, run_key, same
from parser.schema import PredictionSpec, ResultRecord

SHAPE = ("model", "dataset", "seq_len", "batch_size", "max_steps", "n_layer", "d_model")


def shape(point: dict) -> tuple:
    return tuple(point.get(k) for k in SHAPE)


def _median(sorted_times: list[float]) -> float:
    n = len(sorted_times)
    return sorted_times[n // 2] if n % 2 else (sorted_times[n // 2 - 1] + sorted_times[n // 2]) / 2


def _full_seconds(r: ResultRecord) -> float:
    """A completed run's seconds, scaled up to max_steps when it stopped early."""
    max_steps = r.config.get("max_steps")
    if r.stopped_early and r.steps and isinstance(max_steps, int) and 0 < r.steps < max_steps:
        return r.wall_time_s * max_steps / r.steps
    return r.wall_time_s


def _first_stop(curve: list, stop_at: float, max_steps: int) -> float:
    """The step at which the trainer stops at `stop_at`: its first evaluation after step 0
    at or below it, else max_steps."""
    return next((float(step) for step, loss in curve[1:] if loss <= stop_at), float(max_steps))


class Ledger:
    def __init__(self):
        self.seen: list[ResultRecord] = []
        self.ran: set[tuple] = set()  # run_key of every logged run, whatever its outcome
        self.times: dict[tuple, list[float]] = defaultdict(list)  # shape -> sorted seconds of a full run
        self.all_times: list[float] = []
        self.curves: dict[tuple, list[tuple]] = defaultdict(list)  # design point -> [(val_curve, max_steps)]
        self.crossings: dict[tuple, list] = {}  # (design point, loss) -> [curves read, sorted fractions]
        self.by_factor: dict[str, list] = {}  # factor -> [records read, seeds by cell, failures by cell]
        self.waiting: dict[tuple, list] = {}  # spec -> [records read, {partner run_key: record}]

    def update(self, records: list[ResultRecord]) -> "Ledger":
        """Read the records not read yet; `records` must be the log this ledger has been reading."""
        if not extends(self.seen, records):
            raise ValueError("a ledger reads one growing log; this list is not the one it has read")
        for r in records[len(self.seen):]:
            self.ran.add(run_key(r.config))
            if r.status == "completed":
                full = _full_seconds(r)
                bisect.insort(self.times[shape(r.config)], full)
                bisect.insort(self.all_times, full)
                curve = (r.metrics or {}).get("val_curve")
                if curve and isinstance(r.config.get("max_steps"), int):
                    self.curves[point_key(r.config)].append((curve, r.config["max_steps"]))
            self.seen.append(r)
        return self

    def seconds(self, point: dict, stop_at: float | None = None) -> float:
        """Expected seconds of a run: the median of past full runs of the same shape, times
        the share of its steps it is expected to train when it stops at loss `stop_at`.

        By shape (model, data, sizes, steps), not by design point: points of one shape
        differ in cost by noise, and ranking by that noise would pile seeds on whichever
        cell happened to run fastest instead of spreading them. A stop is read from the
        design point itself: where its earlier runs' curves first reached `stop_at`
        (`share`). So a replicate in a cell whose target is set costs what it will
        train, and a cell's first pair, which trains in full to set it, costs a full run.
        """
        times = self.times.get(shape(point)) or self.all_times
        full = max(_median(times) if times else 1.0, 1e-3)
        return full if stop_at is None else max(full * self.share(point, stop_at), 1e-3)

    def share(self, point: dict, stop_at: float) -> float:
        """The median share of max_steps that runs of this design point took to reach
        `stop_at` (a run that never did counts in full); 1 with none logged."""
        key = point_key(point)
        curves = self.curves.get(key, ())
        entry = self.crossings.setdefault((key, stop_at), [0, []])
        for curve, max_steps in curves[entry[0]:]:
            bisect.insort(entry[1], _first_stop(curve, stop_at, max_steps) / max_steps)
        entry[0] = len(curves)
        return _median(entry[1]) if entry[1] else 1.0

    def cells(self, factor: str) -> tuple[dict[tuple, set[int]], Counter]:
        """(seeds used, failed runs) by design cell of a comparison of `factor`."""
        entry = self.by_factor.setdefault(factor, [0, defaultdict(set), Counter()])
        read, seeds, failed = entry
        for r in self.seen[read:]:
            key = cell_key(r.config, factor)
            seeds[key].add(r.seed)
            if r.status != "completed":
                failed[key] += 1
        entry[0] = len(self.seen)
        return seeds, failed

    def unpaired(self, spec: PredictionSpec) -> list[tuple[ResultRecord, dict]]:
        """(run, its missing partner's design point), oldest first: completed runs of one
        arm whose other arm (same cell, same seed) has never run."""
        key = (spec.factor, repr(spec.arm), repr(spec.baseline))
        entry = self.waiting.setdefault(key, [0, {}])
        read, waiting = entry
        for r in self.seen[read:]:
            waiting.pop(run_key(r.config), None)  # this run is someone's partner
            value = r.config.get(spec.factor)
            if r.status != "completed" or not (same(value, spec.arm) or same(value, spec.baseline)):
                continue
            other = spec.baseline if same(value, spec.arm) else spec.arm
            partner = dict({k: v for k, v in r.config.items() if is_factor(k)}, **{spec.factor: other})
            if run_key(partner) not in self.ran:
                waiting.setdefault(run_key(partner), (r, partner))
        entry[0] = len(self.seen)
        return [w for k, w in waiting.items() if k not in self.ran]
