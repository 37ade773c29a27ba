"""report.md, report.tex, figures/ and dashboard.html: rebuilt from the log alone.

    python -m trajectory.report RUN_DIR            # rebuild every report, print the tree and verdicts
    python -m trajectory.report RUN_DIR --status   # only print the state (reads, writes nothing)

`write_reports(study)` is what the loop calls when a study stops; `rebuild(run_dir)`
replays research_log.jsonl with the run directory's hypothesis.yaml and calls the
same function, so the two give the same files. The stop line comes from the log's
last stop record, never from the clock.
"""
from __future__ import annotations

import argparse
import fcntl
import sys
from pathlib import Path

from parser import log
from parser.hypothesis import HypothesisError, load_hypothesis
from parser.schema import StopRecord
from planner.space import Space
from trajectory import compute, dashboard, document, figures, graph, llm_notes
from trajectory.render import found_lines, tree
from trajectory.sides import shown
from trajectory.study import Study, StudyError, open_study, replay_into


def last_stop(run_dir: Path) -> StopRecord | None:
    stops = [r for r in log.replay(run_dir / log.LOG_NAME) if isinstance(r, StopRecord)]
    return stops[-1] if stops else None


def stop_line(stop: StopRecord | None, n_runs: int) -> str:
    if stop is None:
        return f"Not stopped: the study is running or was killed ({n_runs} runs so far)."
    return f"Stopped: {stop.reason}; {stop.n_experiments} runs, finished {stop.finished_at}."


def study_graph(study: Study, stop_reason: str | None) -> dict:
    g = graph.build(study.hypotheses, study.records, study.verdicts, study.history, stop_reason)
    g["space_extensions"] = study.extensions
    g["compute"] = compute.summary(study.records, study.space)
    g["llm"] = llm_notes.summary(log.replay(study.log_path), g)  # None when no LLM took part
    return g


def write_reports(study: Study) -> dict:
    """Every report of the study as it stands; returns the trajectory graph they show."""
    study.settle()  # a write still under way off the loop's path would land after these
    stop = last_stop(study.run_dir)
    g = study_graph(study, stop.reason if stop else None)
    shown = figures.draw(study.run_dir, g, study.records)
    doc = document.blocks(g, study.records, shown, stop_line(stop, len(study.records)))
    (study.run_dir / "report.md").write_text(document.markdown(doc))
    (study.run_dir / "report.tex").write_text(document.latex(doc))
    _write_narrative(study.run_dir, g.get("llm"))
    dashboard.write(study.run_dir, g, study.records)
    return g


def _write_narrative(run_dir: Path, notes: dict | None) -> None:
    """narrative.md: the LLM's paragraph on its own, labelled (removed when the log holds none that is current)."""
    path = run_dir / "narrative.md"
    if notes and notes["narrative"]:
        path.write_text("*Written by the LLM from the study's verdicts; the verdicts, not this paragraph, "
                        "are the results.*\n\n" + document.md_escape(notes["narrative"]) + "\n")
    else:
        path.unlink(missing_ok=True)


def _load(run_dir: Path):
    source = run_dir / "hypothesis.yaml"
    if not (run_dir / log.LOG_NAME).exists() or not source.exists():
        raise StudyError(f"{run_dir} holds no study (research_log.jsonl and hypothesis.yaml)")
    hypothesis = load_hypothesis(source, builtin=False)  # the runs are done: whatever ran them
    return source, hypothesis, Space.of(hypothesis)


def rebuild(run_dir: Path) -> dict:
    """Replay the log (taking the study's lock) and rewrite every report."""
    source, hypothesis, space = _load(run_dir)
    study = open_study(run_dir, hypothesis, space, source.read_text(), resume=True)
    try:
        return write_reports(study)
    finally:
        study.close()


def replay_readonly(run_dir: Path) -> Study:
    """The study's state from its log, without the lock and without writing a file."""
    _, hypothesis, space = _load(run_dir)
    study = Study(run_dir, hypothesis, space)
    study.refresh()
    replay_into(study)
    return study


def running(run_dir: Path) -> bool:
    """Whether a loop holds the study's lock right now."""
    path = run_dir / ".lock"
    if not path.exists():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


def verdict_lines(g: dict) -> list[str]:
    lines = []
    for p in g["predictions"]:
        conf = "-" if p["confidence"] is None else f"{p['confidence']:.2f}"
        ev = f", {shown(p)}" if shown(p) else ""
        lines.append(f"{p['id']}: {p['status']} (confidence {conf}{ev}, {p['n_pairs']} pairs) {p['text']}")
        lines += [f"    {line}" for line in found_lines(p)]
    return lines


def status(run_dir: Path) -> str:
    study = replay_readonly(run_dir)
    stop = last_stop(run_dir)
    state = f"running ({len(study.records)} runs so far)" if running(run_dir) else \
        stop_line(stop, len(study.records))
    g = study_graph(study, None)
    return "\n".join([f"{run_dir}: {state}"] + verdict_lines(g))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m trajectory.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--status", action="store_true", help="only print the state; write nothing")
    args = p.parse_args(argv)
    try:
        if args.status:
            print(status(args.run_dir))
            return 0
        g = rebuild(args.run_dir)
    except (HypothesisError, StudyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(tree(g))
    print("\n".join(verdict_lines(g)))
    print(f"reports: {args.run_dir / 'report.md'}, report.tex, dashboard.html, figures/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
