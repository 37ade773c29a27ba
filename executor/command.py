"""The command backend: the user's own training script, as it is.

How it runs is a `RunSpec` (executor/script.py; the hypothesis file's `run:` section,
or `--command`). The loop runs the command (no shell) in the spec's workdir, each
`{name}` replaced inside its own argument: a factor's value, `{seed}`, `{run_dir}` (a
fresh folder for each run), `{config}` or `{metrics}`. It also sets:
  RESEARCH_CONFIG         path of the run's config JSON: one flat object with the
                          declared factors, the seed and the run's id, nothing else
                          (the script's own defaults stay its own)
  RESEARCH_METRICS        path where a script may write its metrics JSON
  RESEARCH_SEED           the run's seed, for a script that hard-codes its own
  RESEARCH_RUN_DIR        the run's fresh folder
  RESEARCH_EXPERIMENT_ID  the run's id
With `metrics` in the spec, the loop reads the script's numbers itself, live, from its
stdout or a file it writes, and ends the process once the run has crossed its target
(SIGTERM, then SIGKILL after the grace period). Without it, the script writes at least
{"final_val_loss": <float>} to RESEARCH_METRICS; every other finite number it writes
(val_acc, ...) is kept and may be named by a prediction, and the built-in trainer's keys
(val_curve, train_time_s, ...) are used when present.
Exit code 3 means the loss diverged (as executor.train); any other failure is
recorded with its cause (exception, crash, oom, ...: executor/base.py `cause_of`).
The script runs in its own session (so a timeout kills all it started) and is killed
if the loop dies.

Optional early stop for a script without `metrics` (a protocol the script may ignore):
  RESEARCH_PROGRESS       a file the script may append one JSON line to per evaluation,
                          {"step": 500, "val_loss": 2.31}
  RESEARCH_STOP           a file the loop creates once the run may end: the script then
                          writes its metrics (the curve so far, "stopped_early": true) and exits 0
The loop creates the stop file only when the config holds `stop_at_loss` (the
convergence target fixed before the run; parser/checker/early_stop.py) and a progress
line reaches it. A script that ignores both trains in full, as before.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import run_config
from executor import config_file
from executor import script, threads
from executor.atomic import write_atomic
from executor.base import RunPaths, RunResult, START_FAILED_EXIT, die_with_parent, fresh_start, outcome, stderr_tail
from executor.identity import identity
from executor.script import Reader
from run_config import RunSpec


class CommandExecutor:
    name = "command"

    def __init__(self, spec: RunSpec | str):
        """`spec`: how to run the script (a plain command line is a spec with nothing else)."""
        if isinstance(spec, str):
            spec = RunSpec(tuple(shlex.split(spec)), text=spec)
        if not spec.argv:
            raise ValueError("--command is empty: give the training command to run")
        self.spec = spec
        self.argv = list(spec.argv)

    def identity(self) -> dict:
        return identity(self.spec.text or shlex.join(self.spec.argv), self.spec.workdir, self.spec.argv)

    def run(self, config: run_config.TrainConfig, paths: RunPaths, timeout_s: float) -> RunResult:
        eid = config.experiment_id
        handed = run_config.handed(config)  # the config's declared factors, the seed, the id
        json_path = config_file.write_values(handed, paths.config_dir, eid)[1].resolve()
        fresh_start(paths, eid)
        run_dir = fresh_dir(paths.work(eid))
        metrics_path = paths.metrics(eid).resolve()
        values = {**handed, "run_dir": run_dir, "config": json_path, "metrics": metrics_path}
        argv, env = script.command_line(self.spec, values), environment(json_path, metrics_path, eid)
        env.update(RESEARCH_SEED=str(config.seed), RESEARCH_RUN_DIR=str(run_dir))
        chosen = script_threads(config, env)
        env.update(chosen)
        found = self.identity()
        start = time.perf_counter()
        if self.spec.reads_output:
            file = metrics_file(self.spec, values)
            reader = Reader(self.spec, paths.out(eid), file)
            code, timed_out, stopped = _run(argv, env, paths, eid, timeout_s, self.spec, reader, config.stop_at_loss)
            wall = time.perf_counter() - start
            result = read_out(reader, self.spec, handed, code, timed_out, stopped, wall, paths, eid, timeout_s,
                              {"threads": int(chosen["OMP_NUM_THREADS"])} if chosen else {})
        else:
            progress, stop = Path(env["RESEARCH_PROGRESS"]), Path(env["RESEARCH_STOP"])
            for leftover in (progress, stop):
                leftover.unlink(missing_ok=True)
            watch = Watch(progress, stop, config.stop_at_loss) if config.stop_at_loss is not None else None
            code, timed_out, _ = _run(argv, env, paths, eid, timeout_s, self.spec, watch)
            result = outcome(eid, code, timed_out, time.perf_counter() - start, paths, timeout_s)
        return dataclasses.replace(result, script=found)

    def close(self) -> None:
        pass


def fresh_dir(path: Path) -> Path:
    """The run's own empty folder (what a killed attempt left there is removed)."""
    path = path.resolve()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def metrics_file(spec: RunSpec, values: dict) -> Path | None:
    if spec.file is None:
        return None
    path = Path(script.expand(spec.file, values))
    return path if path.is_absolute() else Path(spec.workdir or ".").resolve() / path


def read_out(reader: Reader, spec: RunSpec, handed: dict, code, timed_out: bool, stopped: bool, wall: float,
             paths: RunPaths, eid: str, timeout_s: float, own: dict | None = None) -> RunResult:
    """The run's result from what the script reported (and `own`: what the loop set, the
    threads it was given): its metrics file written for the loop; a run ended at its
    target completed; a run whose output never matched failed."""
    reader.poll(final=True)
    steps = handed.get(spec.steps) if spec.steps else None
    metrics = reader.metrics(stopped, steps if isinstance(steps, int) else None)
    if metrics is not None and not timed_out:
        write_atomic(paths.metrics(eid), json.dumps({**metrics, **(own or {})}) + "\n")
    if stopped:
        code = 0  # the loop ended it, at its target: a finished run
    result = outcome(eid, code, timed_out, wall, paths, timeout_s)
    if result.status == "completed" and metrics is None:
        where = f"run.metrics.stdout {spec.stdout!r}" if spec.stdout else f"the metrics file {spec.file!r}"
        tail = stderr_tail(paths.out(eid))  # the end of its stdout: what it printed instead
        return RunResult(eid, "failed", code, wall, paths.metrics(eid),
                         f"no output matched {where}; the end of its stdout is kept", tail, "metrics_missing")
    return result

def invocation(argv: list[str], config_path, metrics_path, eid: str) -> tuple[list[str], dict]:
    """The command line and environment of one run of a plain `--command` (here, or on a Ray node)."""
    argv = [a.replace("{config}", str(config_path)).replace("{metrics}", str(metrics_path)) for a in argv]
    return argv, environment(config_path, metrics_path, eid)


def script_threads(config: run_config.TrainConfig, environ) -> dict:
    """OMP_NUM_THREADS for the user's script, unless its environment already names one:
    the config's `threads` (a parallel worker's share), else the cores free now
    (executor/threads.py). torch and the BLAS libraries read it as they start. Left to
    torch's default, a script spins a thread per core, and once another process holds a
    core it trains several times slower (BENCHMARKS.md, "Threads on a shared machine")."""
    if threads.env_threads(environ):
        return {}
    if config.threads > 0:
        return {"OMP_NUM_THREADS": str(config.threads)}
    cpus = threads.usable_cores()
    busy = threads.measure(lambda: threads.sample(cpus))
    return {"OMP_NUM_THREADS": str(threads.choose(len(cpus), busy))}


def environment(config_path, metrics_path, eid: str) -> dict:
    metrics_path = Path(metrics_path)  # the optional early-stop protocol's two files sit beside it
    return dict(os.environ, RESEARCH_CONFIG=str(config_path), RESEARCH_METRICS=str(metrics_path),
                RESEARCH_EXPERIMENT_ID=eid, RESEARCH_PROGRESS=str(metrics_path.with_suffix(".progress.jsonl")),
                RESEARCH_STOP=str(metrics_path.with_suffix(".stop")))



class Watch:
    """Reads a run's progress lines as they come; creates the stop file once one reaches the target."""

    def __init__(self, progress, stop, target: float):
        self.progress, self.stop, self.target, self.read = progress, stop, target, 0

    def poll(self, final: bool = False) -> None:
        self.check()

    def crossed(self, target: float) -> bool:
        return False  # the script itself ends, once it sees the stop file

    def check(self) -> None:
        if self.stop.exists() or not self.progress.exists():
            return
        with open(self.progress, "rb") as f:
            f.seek(self.read)
            chunk = f.read()
        lines = chunk.split(b"\n")[:-1]  # a line still being written waits for the next look
        self.read += sum(len(line) + 1 for line in lines)
        for line in lines:
            try:
                loss = float(json.loads(line)["val_loss"])
            except (ValueError, KeyError, TypeError):
                continue  # not a progress line: ignored, as the protocol is optional
            if loss <= self.target:
                self.stop.touch()
                return


def _run(argv, env, paths: RunPaths, eid: str, timeout_s: float, spec: RunSpec, watch=None, target=None):
    """(exit code, timed out, stopped early). `watch`: a `Reader` (the loop ends the run at
    `target`) or the older protocol's `Watch` (the script ends itself)."""
    with open(paths.out(eid), "wb") as out, open(paths.err(eid), "wb") as err:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=spec.workdir, start_new_session=True,
                                    preexec_fn=functools.partial(die_with_parent, os.getpid()))
        except OSError as e:
            err.write(f"error: cannot start {argv[0]!r}: {e}\n".encode())
            return START_FAILED_EXIT, False, False
        return script.wait(proc, timeout_s, watch, target, spec.grace_s)
