"""The command backend: the user's own training script, through a file contract.

The loop runs the command (no shell) with these environment variables:
  RESEARCH_CONFIG         path of the run's config JSON: one flat object with every
                          factor, built-in or the user's own ({"model": ..., "hidden": 64,
                          "seed": 0, ...}); `model` and `dataset` may be any name
  RESEARCH_METRICS        path where the script must write its metrics JSON
  RESEARCH_EXPERIMENT_ID  the run's id
`{config}` and `{metrics}` in the command are replaced by the same paths. The
script exits 0 and writes at least {"final_val_loss": <float>}; every other finite
number it writes (val_acc, ...) is kept in the record and may be named by a prediction,
and the built-in trainer's keys (val_curve, train_time_s, ...) are used when present.
Exit code 3 means the loss diverged (as executor.train); any other failure is
recorded with its cause (exception, crash, oom, ...: executor/base.py `cause_of`).
The script runs in its own session (so a timeout kills all it started) and is killed
if the loop dies.

Optional early stop (a protocol the script may ignore):
  RESEARCH_PROGRESS       a file the script may append one JSON line to per evaluation,
                          {"step": 500, "val_loss": 2.31}
  RESEARCH_STOP           a file the loop creates once the run may end: the script then
                          writes its metrics (the curve so far, "stopped_early": true) and exits 0
The loop creates the stop file only when the config holds `stop_at_loss` (the
convergence target fixed before the run; parser/checker/early_stop.py) and a progress
line reaches it. A script that ignores both trains in full, as before.
"""
from __future__ import annotations

import functools
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from executor import config as cfg
from executor.base import RunPaths, RunResult, START_FAILED_EXIT, die_with_parent, fresh_start, outcome


class CommandExecutor:
    name = "command"

    def __init__(self, command: str):
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("--command is empty: give the training command to run")

    def run(self, config: cfg.TrainConfig, paths: RunPaths, timeout_s: float) -> RunResult:
        eid = config.experiment_id
        _, json_path = cfg.write(config, paths.config_dir)
        fresh_start(paths, eid)
        argv, env = invocation(self.argv, json_path, paths.metrics(eid), eid)
        progress, stop = Path(env["RESEARCH_PROGRESS"]), Path(env["RESEARCH_STOP"])
        for leftover in (progress, stop):
            leftover.unlink(missing_ok=True)
        start = time.perf_counter()
        watch = Watch(progress, stop, config.stop_at_loss) if config.stop_at_loss is not None else None
        code, timed_out = _run(argv, env, paths, eid, timeout_s, watch)
        return outcome(eid, code, timed_out, time.perf_counter() - start, paths, timeout_s)

    def close(self) -> None:
        pass


def invocation(argv: list[str], config_path, metrics_path, eid: str) -> tuple[list[str], dict]:
    """The command line and environment of one run (here, or on a Ray node)."""
    argv = [a.replace("{config}", str(config_path)).replace("{metrics}", str(metrics_path)) for a in argv]
    metrics_path = Path(metrics_path)  # the optional early-stop protocol's two files sit beside it
    env = dict(os.environ, RESEARCH_CONFIG=str(config_path), RESEARCH_METRICS=str(metrics_path),
               RESEARCH_EXPERIMENT_ID=eid, RESEARCH_PROGRESS=str(metrics_path.with_suffix(".progress.jsonl")),
               RESEARCH_STOP=str(metrics_path.with_suffix(".stop")))
    return argv, env


POLL_S = 0.05  # how often the loop reads the progress file while a run with a target goes on


class Watch:
    """Reads a run's progress lines as they come; creates the stop file once one reaches the target."""

    def __init__(self, progress, stop, target: float):
        self.progress, self.stop, self.target, self.read = progress, stop, target, 0

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


def _run(argv, env, paths: RunPaths, eid: str, timeout_s: float, watch: Watch | None = None):
    with open(paths.out(eid), "wb") as out, open(paths.err(eid), "wb") as err:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, start_new_session=True,
                                    preexec_fn=functools.partial(die_with_parent, os.getpid()))
        except OSError as e:
            err.write(f"error: cannot start {argv[0]!r}: {e}\n".encode())
            return START_FAILED_EXIT, False
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                return proc.wait(timeout=max(min(left, POLL_S if watch else left), 0.0)), False
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    os.killpg(proc.pid, signal.SIGKILL)  # the script's children go too
                    return proc.wait(), True
                if watch is not None:
                    watch.check()
