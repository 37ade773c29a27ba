"""The research loop: plan -> run -> parse -> check -> trajectory, until a stop.

    python loop.py --hypothesis hypothesis.yaml --max-experiments 20
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import datasets
import run_config
from executor import identity
from executor.base import RunPaths
from executor.local import timed_step
from executor.slots import Slots, parse_workers, visible_gpus
from models.plugins import joined
from parser.hypothesis import (HypothesisError, effective_text, hypothesis_name, load_hypothesis,
                               search_space)
from parser import run_spec
from parser.checker.replicates import Checks
from parser.log import now
from parser.metrics import to_record
from planner.llm_compile import compiler
from planner.llm_evolve import attach
from planner.llm_narrate import narrate
from planner.base import Planner, Proposal
from planner.llm import add_arguments as add_llm_arguments
from planner.llm import make_planner, make_session
from planner.offline import OfflinePlanner
from planner.space import Space
from trajectory import compute
from trajectory.compute import summary as compute_summary
from trajectory.graph import VERDICTS_STOP
from trajectory.live import PlainView, make_view
from trajectory.report import write_reports
from trajectory.study import Study, StudyError, open_study
from trajectory.trackers import TrackerUnavailable, Trackers, make_trackers
from trajectory.trackers import add_arguments as add_tracker_arguments
from run_config import RunSpec, TrainConfig


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hypothesis", type=Path, help="the hypothesis YAML (optional with --resume)")
    p.add_argument("--max-experiments", type=int, default=20, help="runs in the whole study (default 20)")
    p.add_argument("--out", type=Path, help="run directory (default runs/<hypothesis name>)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN_DIR",
                   help="continue the study in the run directory, skipping finished runs")
    p.add_argument("--time-budget", type=float, help="seconds; no run starts after it is spent")
    p.add_argument("--executor", choices=["local", "command", "sim", "ray"],
                   help="default: command with a run: section or --command, else local (the built-in trainer)")
    p.add_argument("--ray-address", help="Ray cluster for --executor ray (default: a local Ray instance)")
    p.add_argument("--workers", type=_workers, default=1, metavar="N|auto",
                   help="runs at once (default 1); auto: one per GPU, else one per two cores")
    p.add_argument("--command", help="your training command (the run: section's command; see docs/own_script.md)")
    p.add_argument("--workdir", help="the folder your command runs in (run.workdir)")
    p.add_argument("--metrics-stdout", metavar="REGEX", help="read metrics from stdout lines (run.metrics.stdout)")
    p.add_argument("--metrics-file", metavar="PATH", help="read metrics from a file it writes (run.metrics.file)")
    p.add_argument("--steps-factor", metavar="FACTOR", help="the factor that sets a run's length (run.steps)")
    p.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="a model or dataset for the built-in trainer (see docs/plugins.md; repeatable)")
    p.add_argument("--sim", type=Path, help="true effects and noise (YAML) for --executor sim")
    p.add_argument("--seed", type=int, default=0, help="first seed of every design cell")
    p.add_argument("--max-seeds", type=int, default=10, help="replicates per design cell (default 10)")
    p.add_argument("--run-timeout", type=float, default=3600.0, help="seconds per run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an initial_config entry, e.g. --set max_steps=100 (repeatable)")
    p.add_argument("--data-dir", help="local directory holding the dataset files")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--quiet", action="store_true", help="print only the stop reason")
    add_tracker_arguments(p)
    add_llm_arguments(p)
    return p.parse_args(argv)


def _workers(text: str):
    try:
        return parse_workers(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def make_executor(args, script: RunSpec | None = None):
    if args.executor == "command":
        if script is None:
            raise StudyError("--executor command needs a run: section in the hypothesis file, "
                             "or --command \"python my_train.py\"")
        from executor.command import CommandExecutor
        return CommandExecutor(script)
    if args.executor == "sim":
        if not args.sim:
            raise StudyError("--executor sim needs --sim TRUTH.yaml (see examples/sim_truth.yaml)")
        from executor.sim import SimExecutor
        from parser.sim_truth import SimTruthError, load_truth
        try:
            return SimExecutor(load_truth(args.sim))
        except SimTruthError as e:
            raise StudyError(str(e)) from None
    if args.executor == "ray":
        from executor.ray_backend import RayExecutor
        try:
            return RayExecutor(args.ray_address, script=script)
        except Exception as e:  # Ray missing, or no cluster at that address
            raise StudyError(f"cannot start the Ray backend: {e}") from None
    from executor.local import LocalExecutor
    return LocalExecutor()


def source_of(args) -> tuple[Path, Path | None]:
    """The hypothesis file and the run directory (None: runs/<name>) the flags name."""
    run_dir = Path(args.resume) if isinstance(args.resume, str) else args.out
    source = args.hypothesis
    if args.resume and run_dir is not None and not (run_dir / "research_log.jsonl").exists():
        raise StudyError(f"nothing to resume: {run_dir} holds no research_log.jsonl")
    if source is None and run_dir is not None and args.resume:
        source = run_dir / "hypothesis.yaml"
    if source is None:
        raise StudyError("give --hypothesis FILE (or --resume RUN_DIR)")
    return source, run_dir


def script_of(args) -> RunSpec | None:
    """The user's script (the file's run: section, the flags over it), and which backend
    runs the study; None: the built-in trainer or the simulator."""
    source, _ = source_of(args)
    try:
        script = run_spec.load(source, args)
    except run_spec.RunError as e:
        raise StudyError(str(e)) from None
    if args.executor is None:
        args.executor = "command" if script is not None else "local"
    if script is not None and args.executor in ("local", "sim"):
        raise StudyError(f"{source}: run: (or --command) names your script, but --executor {args.executor} "
                         "does not run it: drop one of them")
    return script


def open_from_args(args, session=None, script: RunSpec | None = None) -> Study:
    source, run_dir = source_of(args)
    reuse = (run_dir or Path("runs") / hypothesis_name(source)) / "hypothesis.yaml" \
        if session and args.resume else None  # a resumed study takes the specs the LLM compiled
    builtin = builtin_trainer(args, script)
    hypothesis = load_hypothesis(source, args.set, compiler(session, reuse), builtin, args.plugin, script)
    if builtin:  # the built-in trainer reads these; its runs never download
        prepare_data(search_space(hypothesis)["dataset"], args.data_dir, source)
    run_dir = run_dir or Path("runs") / hypothesis_name(source)
    return open_study(run_dir, hypothesis, Space.of(hypothesis),
                      effective_text(source, args.set, hypothesis, script), bool(args.resume))


def builtin_trainer(args, script: RunSpec | None = None) -> bool:
    """Whether executor.train runs the study (else the user's script, or the simulator)."""
    return args.executor in ("local", None) or (args.executor == "ray" and script is None)


def on_cpu(args, script: RunSpec | None) -> bool:
    """Whether the built-in trainer's runs will train on this machine's CPU."""
    return builtin_trainer(args, script) and args.executor != "ray" and \
        (args.device == "cpu" or (not args.device.startswith("cuda") and not visible_gpus()))


def prepare_data(names: list[str], data_dir: str | None, source: Path) -> None:
    """Fetch or verify every corpus once, here, before anything is written or run."""
    for name in names:
        try:
            datasets.prepare(name, data_dir)
        except (datasets.DatasetUnavailable, datasets.ChecksumMismatch) as e:
            raise StudyError(f"{source}: hypothesis.initial_config.dataset: {e}") from None


@dataclass(frozen=True)
class LoopOptions:
    """What the loop itself reads, fixed before the first run."""

    max_experiments: int = 20
    time_budget: float | None = None  # seconds; no run starts after it is spent
    run_timeout: float = 3600.0  # seconds per run
    data_dir: str | None = None
    device: str = "auto"
    slots: Slots = field(default_factory=lambda: Slots(1))  # runs at once, and each one's resources
    plugins: tuple[str, ...] = ()  # every training process loads them (the hypothesis' as loaded)
    declared: tuple[str, ...] = ()  # a study of the user's script: the factors it declares, all it is handed
    rehearsal: str = ""  # GPU-sized runs on a CPU: how to rehearse smaller (trajectory.compute.rehearsal)

    @classmethod
    def from_args(cls, args: argparse.Namespace, slots: Slots | None = None) -> "LoopOptions":
        return cls(args.max_experiments, args.time_budget, args.run_timeout, args.data_dir, args.device,
                   slots or Slots(1))


def stop_reason(study: Study, options: LoopOptions, started: float, in_flight: int = 0,
                checks: Checks | None = None) -> str | None:
    """Why no further run should start (runs already in flight still finish), or None."""
    verdicts = study.verdicts.values()
    if all(v.decided for v in verdicts):
        return VERDICTS_STOP
    problem = checks.update(study.records).problem() if checks is not None else None
    if problem:  # the script does not honour the design: more runs would be more copies
        return problem
    if len(study.records) + in_flight >= options.max_experiments:
        return f"experiment budget spent ({options.max_experiments} runs)"
    if options.time_budget is not None and time.monotonic() - started >= options.time_budget:
        return f"time budget spent ({options.time_budget:g} s)"
    return None


@dataclass
class Run:
    """One planned run: what it is, why, and (once started) its config and slot."""

    eid: str
    point: dict
    proposal: Proposal
    pair: str | None
    config: TrainConfig | None = None
    slot: int = 0
    started_at: str = ""


def planned(proposal, first: int) -> list[Run]:
    """The proposal's runs with experiment ids first, first + 1, ...; a pair names each other."""
    ids = [f"exp_{first + i:04d}" for i in range(len(proposal.runs))]
    if len(ids) == 1:
        return [Run(ids[0], proposal.runs[0], proposal, proposal.pair)]
    return [Run(eid, point, proposal, ids[1] if i == 0 else ids[0])
            for i, (eid, point) in enumerate(zip(ids, proposal.runs))]


def last_id(study: Study) -> int:
    """The highest experiment number logged (runs finish out of order with --workers)."""
    numbers = [int(r.experiment_id.rsplit("_", 1)[-1]) for r in study.records
               if r.experiment_id.rsplit("_", 1)[-1].isdigit()]
    return max(numbers, default=0)


def start(run: Run, study: Study, paths: RunPaths, slots: Slots, free: set, options: LoopOptions, view) -> None:
    run.slot = min(free)
    free.discard(run.slot)
    run.config = run_config.from_dict(dict(run.point, experiment_id=run.eid, data_dir=options.data_dir, device=options.device,
                                    metrics_path=str(paths.metrics(run.eid).resolve()),
                                    plugins=joined(list(options.plugins)), **slots.config(run.slot),
                                    declared=",".join(options.declared),
                                    stop_at_loss=study.stop_target(run.point)))
    run.started_at = now()
    view.start_run(run.eid, paths.out(run.eid), run.config.max_steps, len(study.records), options.max_experiments)


def finish(run: Run, result, study: Study, options: LoopOptions, view, trackers) -> None:
    proposal = run.proposal
    plan = {"hypothesis_id": study.hypothesis_of(proposal.targets[0]), "planner": proposal.planner,
            "rationale": proposal.rationale, "targets": proposal.targets, "pair": run.pair,
            "llm": proposal.llm}
    logged = run_config.handed(run.config) if options.declared else run_config.to_dict(run.config)
    record = to_record(result, logged, plan, run.started_at)
    study.append(record)
    trackers.log_run(record, len(study.records))
    trackers.log_confidences(len(study.records), study.verdicts)
    view.end_run(record, study.verdicts, len(study.records), options.max_experiments, study.predictions,
                 compute.left_text(study.records, options.max_experiments, options.slots.n))


def nothing_left(study: Study, planner: Planner | None = None) -> str:
    """Why the planner proposed nothing: every run failed, or what stays open and why."""
    failed = [r for r in study.records if r.status != "completed"]
    if study.records and len(failed) == len(study.records):
        causes = sorted({r.cause or r.status for r in failed})
        return f"every run failed ({len(failed)}: {', '.join(causes)}); see the errors in the log"
    offline = getattr(planner, "offline", planner)  # the LLM planner's own offline ranking
    why = offline.why_open(study.predictions, study.verdicts, study.records, study.space, study.indexes) \
        if hasattr(offline, "why_open") else ""
    reason = "nothing left in the space can decide an open prediction" if why else \
        "nothing left in the space is expected to change a verdict"
    if failed:
        reason += f" ({len(failed)} failed runs; cells that failed twice are excluded)"
    return f"{reason}: {why}" if why else reason


def research(study: Study, planner: Planner, executor, options: LoopOptions, view=None, trackers=None) -> str:
    """Plan, run, record, until a stop. With --workers N up to N runs go at once: the
    planner is told which runs are in flight, and each result is logged as it finishes
    (those finishing together in id order), so a replay of the log is this study."""
    paths, started = RunPaths.under(study.run_dir), time.monotonic()
    view = view or PlainView()
    trackers = trackers if trackers is not None else Trackers()
    slots = options.slots
    pool = ThreadPoolExecutor(slots.n) if slots.n > 1 else None
    queue: list[Run] = []
    running: dict[Future, Run] = {}
    free, numbered, checks, costed = set(range(slots.n)), last_id(study), Checks(), False
    try:
        while True:
            while len(running) < slots.n and not stop_reason(study, options, started, len(running), checks):
                if not queue:
                    proposal = planner.propose(study.predictions, study.verdicts, study.records, study.space,
                                               tuple(r.point for r in running.values()), study.indexes)
                    if proposal is None:
                        break
                    queue = planned(proposal, numbered + 1)
                    numbered += len(queue)
                run = queue.pop(0)
                start(run, study, paths, slots, free, options, view)
                running[submit(pool, executor, run.config, paths, options.run_timeout)] = run
            if not running:
                return stop_reason(study, options, started, 0, checks) or nothing_left(study, planner)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: (len(running[f].eid), running[f].eid)):  # id order
                run = running.pop(future)
                free.add(run.slot)
                finish(run, future.result(), study, options, view, trackers)
                cost = None if costed else compute.cost_text(study.records, options.max_experiments, slots.n,
                                                             options.rehearsal)
                if cost:  # the first finished run says what the study will cost on this machine
                    view.note(cost)
                    costed = True
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def submit(pool, executor, config: TrainConfig, paths: RunPaths, timeout: float) -> Future:
    """The run in a worker thread, or (one worker) right here, as a finished future."""
    if pool is not None:
        return pool.submit(executor.run, config, paths, timeout)
    future = Future()
    future.set_result(executor.run(config, paths, timeout))
    return future


class Terminated(KeyboardInterrupt):
    """A SIGTERM: the study stops as on Ctrl-C (its runs kept, reports written, lock released)."""


def _terminated(signum, frame) -> None:
    raise Terminated


def main(argv=None) -> int:
    args = parse_args(argv)
    session = make_session(args)  # the study's one LLM (--llm-base-url), for every LLM task; None offline
    try:
        trackers = make_trackers(args)  # a missing package or a bad backend fails before any work
        script = script_of(args)  # the user's own script, or None
        executor = make_executor(args, script)
        options = LoopOptions.from_args(args, Slots.plan(args.workers, args.device, args.executor))
        study = open_from_args(args, session, script)
        options = replace(options, plugins=tuple(study.hypothesis.plugins),
                          declared=tuple(study.hypothesis.initial_config) if script else (),
                          rehearsal=compute.rehearsal(study.space) if on_cpu(args, script) else "")
        trackers.start(study.run_dir.name, study.hypothesis.model_dump(), study.run_dir)
    except (HypothesisError, StudyError, TrackerUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    changed = identity.changed(study.records, executor.identity()) if script else None
    if changed:
        print(f"note: {changed}", file=sys.stderr)
    if not args.quiet:
        for p in study.hypothesis.predictions:
            by_llm = "   (compiled by the LLM)" if p.compiled_by == "llm" else ""
            print(f"{p.id}: {p.text}\n    = {p.spec.text()}{by_llm}")
    planner = make_planner(args, OfflinePlanner(args.max_seeds, args.seed, args.max_experiments),
                           study.hypothesis.claim, session)
    attach(session, study)  # the LLM's refinements and children after each run (nothing offline)
    view = make_view(args.quiet)
    if options.rehearsal:  # GPU-sized runs on a CPU: say what they cost before the user waits
        point = dict(compute.largest(study.space), data_dir=options.data_dir, device="cpu", **options.slots.config(0))
        cost = compute.upfront_text(timed_step(point), point, options.max_experiments, options.slots.n)
        view.note(f"cost: {cost}; {options.rehearsal}")
    before = signal.signal(signal.SIGTERM, _terminated)  # `kill` stops the study as Ctrl-C does
    try:
        reason = research(study, planner, executor, options, view, trackers)
    except KeyboardInterrupt as stop:
        why = "stopped by a SIGTERM" if isinstance(stop, Terminated) else "interrupted by the user"
        study.stop(why, now())
        trackers.finish(why)
        write_reports(study)
        print(f"\n{why}: {len(study.records)} finished runs are in {study.log_path}\n"
              f"resume with: python loop.py --resume {study.run_dir}", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, before)
        view.close()
        executor.close()
    tree = study.stop(reason, now())
    narrate(session, study, reason)  # the LLM's paragraph for the reports (nothing offline)
    trackers.finish(reason)
    print(f"Stopped: {reason}" if args.quiet else tree)
    print(compute_summary(study.records, study.space)["text"])
    write_reports(study)
    study.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
