"""A study's run directory and its in-memory state, rebuilt from the log.

Opening a study replays `research_log.jsonl` (that is all `--resume` needs), from the
checkpoint of its folded state where one matches the log (`trajectory.checkpoint`);
each new record is appended to the log first, then applied to the verdicts,
the evolution of the hypotheses and the confidence history, then the trajectory
is rewritten. Replay applies the same records in the same order, so a resumed study
has exactly the state it had when it stopped.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from pathlib import Path

from parser import log
from parser.checker.early_stop import stop_target
from parser.checker.pairs import PairIndexes
from parser.checker.regions import source_spec
from parser.checker.verdicts import Verdict, assess_all
from parser.schema import EvolutionRecord, Hypothesis, NarrativeRecord, Prediction, ResultRecord, StopRecord
from planner.base import Indexes
from planner.space import Space, extension, needed_levels, unreachable_reason
from trajectory import checkpoint, curves, dashboard, graph, runlock
from trajectory.evolve import evolve
from trajectory.render import tree
from trajectory.writes import Writes


class StudyError(Exception):
    """The run directory can't be used as asked (exists, missing, unwritable)."""


@dataclass
class Study:
    run_dir: Path
    hypothesis: Hypothesis  # the root, as the user wrote it
    space: Space
    records: list[ResultRecord] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    hypotheses: list[Hypothesis] = field(default_factory=list)  # root, then evolved ones
    extensions: list[dict] = field(default_factory=list)  # values the space gained, and why
    lock: runlock.RunLock | None = None  # run_dir/.lock, held while this process owns the study
    evolutions: list[EvolutionRecord] = field(default_factory=list)  # the LLM's proposals, as logged
    evolver: object = None  # called with the study after each added run: the LLM proposing refinements and children
    saved_paced: bool = False  # `writes.paced` as the checkpoint has it: a resume's first write goes by it
    indexes: Indexes = field(default_factory=Indexes)  # what has been read of the log, for checker and planner
    log_offset: int = 0  # bytes of the log the state has folded: what a checkpoint stands for
    log_skipped: list[int] = field(default_factory=list)  # its malformed lines, passed over
    restored: int = 0  # runs taken from the checkpoint when the study was opened (0: a full replay)
    unsaved: int = 0  # records folded since the checkpoint was written
    whole: bool = True  # the state is the fold of the log's first log_offset bytes (not after a broken-off append)
    # what the writer of the derived files has read of the log: its own (a write may run in a thread
    # beside the loop), brought up to date by each write; from the loop's own when the study opens
    write_indexes: PairIndexes | None = None

    def __post_init__(self):
        self.writes = Writes(lambda *args: self._write(*args))
        self.origin = checkpoint.origin(self.hypothesis, self.space)  # before anything extends the space
        self.hypotheses = self.hypotheses or [self.hypothesis.model_copy(deep=True)]
        self.indexes.pairs.ranges = dict(self.space.ranges)  # the checker reads along them
        # the grid the user declared (and values added to reach a condition): a verdict on a
        # region needs a score at each of its levels; values a range or a crossing adds are extra
        self.declared = {name: list(values) for name, values in self.space.grid.items()}

    @property
    def log_path(self) -> Path:
        return self.run_dir / log.LOG_NAME

    @property
    def predictions(self) -> list[Prediction]:
        return [p for h in self.hypotheses for p in h.predictions]

    def stop_target(self, point: dict) -> float | None:
        """The val loss at which a run at `point` may stop early; None: it trains in full."""
        return stop_target(self.predictions, self.records, point, self.indexes.pairs)

    def hypothesis_of(self, prediction_id: str) -> str:
        return next((h.id for h in self.hypotheses for p in h.predictions if p.id == prediction_id),
                    self.hypothesis.id)

    def refresh(self) -> None:
        predictions = self.predictions
        by_id = {p.id: p for p in predictions}
        self.unreachable = {p.id: why for p in predictions
                            if (why := unreachable_reason(p, by_id, self.space))}
        for pid in list(self.unreachable):
            found = extension(by_id[pid], by_id, self.space)
            if found:
                self._extend(*found)
                self.declared[found[0]] = self.declared.get(found[0], self.space.values(found[0])) + [found[1]]
                self.unreachable.pop(pid)
        self._need_cells(predictions, by_id)
        self.verdicts = assess_all(predictions, self.records, self.unreachable, self.indexes.pairs)
        if self.space.ranges:
            self._place_crossings(predictions, by_id)

    def _need_cells(self, predictions: list[Prediction], by_id: dict[str, Prediction]) -> None:
        """Which declared levels each prediction's verdict must have a score at (`needed_levels`)."""
        declared = Space(self.declared, self.space.tokens)
        ledger = self.indexes.ledger.update(self.records)
        needed = {}
        for p in predictions:
            if p.spec.kind == "bound":
                continue
            source = source_spec(p, by_id)
            failed = ledger.cells(source.factor)[1]
            key = (p.spec.model_dump_json(), source.model_dump_json())
            needed[key] = needed_levels(p, by_id, declared, failed.__getitem__)
        self.indexes.pairs.needed = needed

    def _place_crossings(self, predictions: list[Prediction], by_id: dict[str, Prediction]) -> None:
        """A range factor gains the value where an open prediction's effect curve crosses its
        threshold (`trajectory.curves.placement`), so the planner can run there next."""
        for p in predictions:
            curve = None if self.verdicts[p.id].decided else curves.for_prediction(p, by_id, self.records,
                                                                                     self.indexes.pairs)
            found = curves.placement(curve, self.space, self.extensions) if curve else None
            if found:
                self._extend(*found)

    def _extend(self, name: str, value, why: str) -> None:
        """The space gains a value (logged in trajectory.json with why and after which run)."""
        self.space.grid[name] = self.space.values(name) + [value]
        after = self.records[-1].experiment_id if self.records else None
        self.extensions.append({"factor": name, "value": value, "reason": why, "after": after})

    def append(self, record: ResultRecord | EvolutionRecord | NarrativeRecord) -> None:
        """A new record: logged first, then applied to the state (a narrative is only logged).
        After a run the derived files are rewritten (paced) and the LLM, if any, looks at
        the study; after an accepted LLM proposal they are rewritten at once."""
        self.writes.busy()  # a write that failed off the loop's path fails the loop here, before more is logged
        record = log.as_logged(record)
        whole, self.whole = self.whole, False  # from the line's write until the state has it too
        end = log.append(self.log_path, record)
        if isinstance(record, (ResultRecord, EvolutionRecord)):
            self.apply(record)
        self.whole = whole
        if whole:
            self.log_offset = end
        if isinstance(record, ResultRecord):
            if self.writes.due():
                self.writes.soon(self.snapshot())
            if self.evolver is not None:
                self.evolver(self)
        elif isinstance(record, EvolutionRecord):
            self.settle()
            self.writes.soon(self.snapshot())

    def apply(self, record: ResultRecord | EvolutionRecord) -> None:
        """Take a logged record into the state; replay applies the log's records the same way."""
        whole, self.whole = self.whole, False  # stays so if this breaks off half done
        if isinstance(record, EvolutionRecord):
            self._apply_evolution(record)
        else:
            self._apply_run(record)
        self.whole = whole
        self.unsaved += 1

    def _apply_run(self, record: ResultRecord) -> None:
        """One finished run: verdicts, evolution, history."""
        self.records.append(record)
        for name, value in self.space.observe(record.config, record.metrics):
            self.extensions.append({"factor": name, "value": value, "after": record.experiment_id,
                                    "reason": f"{record.experiment_id} ran {name} = {value:g}, inside its range "
                                              f"{self.space.ranges[name].text()}; the grid takes it from here"})
        self.refresh()
        changes = evolve(self.hypotheses, self.verdicts, self.records, self.space.grid, self.indexes.pairs)
        for change in changes:
            if isinstance(change, Hypothesis):
                self.hypotheses.append(change)
            else:
                owner = next(h for h in self.hypotheses if any(p.id == change.parent for p in h.predictions))
                owner.predictions.append(change)
        if changes:
            self.refresh()
        self.history.append(graph.history_entry(record.experiment_id, self.verdicts))

    def _apply_evolution(self, record: EvolutionRecord) -> None:
        """An LLM's proposal; an accepted one adds its prediction or child."""
        self.evolutions.append(record)
        if record.status != "accepted":
            return
        if record.hypothesis is not None:
            self.hypotheses.append(record.hypothesis.model_copy(deep=True))
        else:
            parent = record.prediction.parent
            owner = next((h for h in self.hypotheses if any(p.id == parent for p in h.predictions)),
                         self.hypotheses[0])
            owner.predictions.append(record.prediction.model_copy(deep=True))
        self.refresh()

    def write(self, stop_reason: str | None = None) -> dict:
        """Rewrite the derived files here and now (after any write under way); returns the graph."""
        return self.writes.now(stop_reason, self.snapshot())

    def settle(self) -> None:
        """Wait for a write of the derived files under way in a thread; raise what it raised."""
        self.writes.settle()

    def snapshot(self) -> dict:
        """What the derived files show, copied so that the loop may go on changing the study."""
        return {"hypotheses": [h.model_copy(update={"predictions": list(h.predictions)}) for h in self.hypotheses],
                "records": list(self.records), "verdicts": self.verdicts, "history": list(self.history),
                "extensions": list(self.extensions), "needed": dict(self.indexes.pairs.needed)}

    def _write(self, stop_reason: str | None, state: dict) -> dict:
        if self.write_indexes is None:
            self.write_indexes = PairIndexes(graph.declared_ranges(state["hypotheses"]))
        self.write_indexes.needed = state.get("needed", {})
        g = graph.build(state["hypotheses"], state["records"], state["verdicts"], state["history"], stop_reason,
                        self.write_indexes)
        g["space_extensions"] = state["extensions"]
        graph.write(self.run_dir / graph.TRAJECTORY_NAME, g)
        dashboard.write(self.run_dir, g, state["records"])
        return g

    def save(self) -> None:
        """Write the checkpoint of the folded state, if anything was folded since the last one
        or the writes have turned slow (never from a state an apply broke off in the middle of)."""
        if (self.unsaved or self.writes.paced != self.saved_paced) and self.whole and self.lock is not None:
            checkpoint.save(self, self.log_path.read_bytes())
            self.unsaved, self.saved_paced = 0, self.writes.paced

    def close(self) -> None:
        """Give up the run directory: wait for a write under way, then remove the lock."""
        self.writes.wait()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def stop(self, reason: str, finished_at: str) -> str:
        """Log why the study stopped, write the final trajectory and the checkpoint, return the tree."""
        self.settle()
        end = log.append(self.log_path, StopRecord(reason=reason, n_experiments=len(self.records),
                                                   finished_at=finished_at))
        if self.whole:
            self.log_offset = end
        g = self.write(reason)
        self.save()
        return tree(g)


def open_study(run_dir: Path, hypothesis: Hypothesis, space: Space, source_text: str,
               resume: bool) -> Study:
    """A new study in an empty run dir, or (resume) the one the log describes."""
    has_log = (run_dir / log.LOG_NAME).exists()
    if has_log and not resume:
        raise StudyError(f"{run_dir} already holds a study; pass --resume to continue it "
                         f"or --out to start a new one elsewhere")
    if resume and not has_log:
        raise StudyError(f"nothing to resume: {run_dir / log.LOG_NAME} does not exist")
    _check_writable(run_dir)
    try:
        lock = runlock.take(run_dir)
    except runlock.Busy as e:
        raise StudyError(f"{e}; one study takes one loop at a time") from None
    try:
        copy = run_dir / "hypothesis.yaml"
        if not copy.exists():
            copy.write_text(source_text)
        study = Study(run_dir, hypothesis, space)
        study.lock = lock
        study.refresh()
        replay_into(study)
        study.save()  # the next resume starts from here
        # the writer starts from what the loop has read (a copy: it may write in a thread), not afresh
        study.write_indexes = study.indexes.pairs.copy(graph.declared_ranges(study.hypotheses))
        # the folded state lives as long as the study: the cyclic collector need not walk its
        # millions of objects again and again (each pass ~1 s at 10,000 runs, stalling the loop)
        gc.freeze()
        study.writes.soon(study.snapshot())
    except BaseException:
        lock.release()
        raise
    return study


def replay_into(study: Study, from_checkpoint: bool = True) -> None:
    """Apply the log's runs and LLM evolution proposals: the same steps, in the same order, as
    when it ran; from the checkpoint's state where one matches the start of the log."""
    data = study.log_path.read_bytes() if study.log_path.exists() else b""
    if from_checkpoint and checkpoint.restore(study, data):
        study.restored = len(study.records)
        # the checkpoint leaves out the indexes' views (caches): rebuilt here, as the next run's
        # checker would, and not in the first iteration, beside the first write's thread
        assess_all(study.predictions, study.records, study.unreachable, study.indexes.pairs)
    tail = log.read(study.log_path, study.log_offset, data)
    for record in log.state_records(tail.records, {r.experiment_id for r in study.records}):
        study.apply(record)
    study.log_offset = tail.end
    study.log_skipped += tail.skipped


def _check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise StudyError(f"run directory {run_dir} is not writable: {e.strerror or e}") from None
    if not os.access(run_dir, os.W_OK):
        raise StudyError(f"run directory {run_dir} is not writable")
