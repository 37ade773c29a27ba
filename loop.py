"""The research loop: plan -> run -> parse -> check -> trajectory, until a stop.

    python loop.py --hypothesis hypothesis.yaml --max-experiments 20
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from executor.base import RunPaths
from executor.config import TrainConfig
from parser.hypothesis import (HypothesisError, effective_text, hypothesis_name, load_hypothesis,
                               search_space)
from parser.metrics import now, to_record
from planner.llm import add_arguments as add_llm_arguments
from planner.llm import make_planner
from planner.offline import OfflinePlanner
from planner.space import Space
from trajectory.live import PlainView, make_view
from trajectory.report import write_reports
from trajectory.study import Study, StudyError, open_study
from trajectory.trackers import TrackerUnavailable, Trackers, make_trackers
from trajectory.trackers import add_arguments as add_tracker_arguments


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hypothesis", type=Path, help="the hypothesis YAML (optional with --resume)")
    p.add_argument("--max-experiments", type=int, default=20, help="runs in the whole study (default 20)")
    p.add_argument("--out", type=Path, help="run directory (default runs/<hypothesis name>)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN_DIR",
                   help="continue the study in the run directory, skipping finished runs")
    p.add_argument("--time-budget", type=float, help="seconds; no run starts after it is spent")
    p.add_argument("--executor", choices=["local", "command", "sim"], default="local")
    p.add_argument("--command", help="training command for --executor command (see README)")
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


def make_executor(args):
    if args.executor == "command":
        if not args.command:
            raise StudyError("--executor command needs --command \"python my_train.py\"")
        from executor.command import CommandExecutor
        return CommandExecutor(args.command)
    if args.executor == "sim":
        if not args.sim:
            raise StudyError("--executor sim needs --sim TRUTH.yaml (see examples/sim_truth.yaml)")
        from executor.sim import SimExecutor, SimTruthError
        try:
            return SimExecutor(args.sim)
        except SimTruthError as e:
            raise StudyError(str(e)) from None
    from executor.local import LocalExecutor
    return LocalExecutor()


def open_from_args(args) -> Study:
    run_dir = Path(args.resume) if isinstance(args.resume, str) else args.out
    source = args.hypothesis
    if args.resume and run_dir is not None and not (run_dir / "research_log.jsonl").exists():
        raise StudyError(f"nothing to resume: {run_dir} holds no research_log.jsonl")
    if source is None and run_dir is not None and args.resume:
        source = run_dir / "hypothesis.yaml"
    if source is None:
        raise StudyError("give --hypothesis FILE (or --resume RUN_DIR)")
    hypothesis = load_hypothesis(source, args.set)
    run_dir = run_dir or Path("runs") / hypothesis_name(source)
    return open_study(run_dir, hypothesis, Space(search_space(hypothesis)),
                      effective_text(source, args.set), bool(args.resume))


def stop_reason(study: Study, args, started: float) -> str | None:
    verdicts = study.verdicts.values()
    if all(v.decided for v in verdicts):
        return "every prediction is decided"
    if len(study.records) >= args.max_experiments:
        return f"experiment budget spent ({args.max_experiments} runs)"
    if args.time_budget is not None and time.monotonic() - started >= args.time_budget:
        return f"time budget spent ({args.time_budget:g} s)"
    return None


def run_one(study: Study, executor, paths: RunPaths, point: dict, proposal, pair, args, view,
            trackers) -> None:
    eid = f"exp_{len(study.records) + 1:04d}"
    config = TrainConfig(**point, experiment_id=eid, data_dir=args.data_dir, device=args.device,
                         metrics_path=str(paths.metrics(eid).resolve()))
    started_at = now()
    view.start_run(eid, paths.out(eid), config.max_steps, len(study.records), args.max_experiments)
    result = executor.run(config, paths, args.run_timeout)
    plan = {"hypothesis_id": study.hypothesis_of(proposal.targets[0]), "planner": proposal.planner,
            "rationale": proposal.rationale, "targets": proposal.targets, "pair": pair}
    record = to_record(result, vars(config), point, plan, started_at)
    study.add(record)
    trackers.log_run(record, len(study.records))
    trackers.log_confidences(len(study.records), study.verdicts)
    view.end_run(record, study.verdicts, len(study.records), args.max_experiments)


def nothing_left(study: Study) -> str:
    failed = [r for r in study.records if r.status != "completed"]
    if study.records and len(failed) == len(study.records):
        causes = sorted({r.cause or r.status for r in failed})
        return f"every run failed ({len(failed)}: {', '.join(causes)}); see the errors in the log"
    if failed:
        return (f"nothing left in the space is expected to change a verdict "
                f"({len(failed)} failed runs; cells that failed twice are excluded)")
    return "nothing left in the space is expected to change a verdict"


def research(study: Study, planner, executor, args, view=None, trackers=None) -> str:
    paths, started = RunPaths.under(study.run_dir), time.monotonic()
    view = view or PlainView()
    trackers = trackers if trackers is not None else Trackers()
    while not (reason := stop_reason(study, args, started)):
        proposal = planner.propose(study.predictions, study.verdicts, study.records, study.space)
        if proposal is None:
            return nothing_left(study)
        first = f"exp_{len(study.records) + 1:04d}"
        for i, point in enumerate(proposal.runs):
            if i and stop_reason(study, args, started):
                break
            pair = proposal.extra.get("pair") if len(proposal.runs) == 1 else \
                (first if i else f"exp_{len(study.records) + 2:04d}")
            run_one(study, executor, paths, point, proposal, pair, args, view, trackers)
    return reason


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        trackers = make_trackers(args)  # a missing package or a bad backend fails before any work
        executor = make_executor(args)
        study = open_from_args(args)
        trackers.start(study.run_dir.name, study.hypothesis.model_dump(), study.run_dir)
    except (HypothesisError, StudyError, TrackerUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        for p in study.hypothesis.predictions:
            print(f"{p.id}: {p.text}\n    = {p.spec.text()}")
    planner = make_planner(args, OfflinePlanner(max_seeds=args.max_seeds, base_seed=args.seed),
                           study.hypothesis.claim)
    view = make_view(args.quiet)
    try:
        reason = research(study, planner, executor, args, view, trackers)
    except KeyboardInterrupt:
        study.stop("interrupted by the user", now())
        trackers.finish("interrupted by the user")
        write_reports(study)
        print(f"\ninterrupted: {len(study.records)} finished runs are in {study.log_path}\n"
              f"resume with: python loop.py --resume {study.run_dir}", file=sys.stderr)
        return 130
    finally:
        view.close()
        executor.close()
    tree = study.stop(reason, now())
    trackers.finish(reason)
    print(f"Stopped: {reason}" if args.quiet else tree)
    write_reports(study)
    study.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
