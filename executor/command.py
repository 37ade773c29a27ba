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
"""
from __future__ import annotations

import functools
import os
import shlex
import signal
import subprocess
import time

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
        start = time.perf_counter()
        code, timed_out = _run(argv, env, paths, eid, timeout_s)
        return outcome(eid, code, timed_out, time.perf_counter() - start, paths, timeout_s)

    def close(self) -> None:
        pass


def invocation(argv: list[str], config_path, metrics_path, eid: str) -> tuple[list[str], dict]:
    """The command line and environment of one run (here, or on a Ray node)."""
    argv = [a.replace("{config}", str(config_path)).replace("{metrics}", str(metrics_path)) for a in argv]
    env = dict(os.environ, RESEARCH_CONFIG=str(config_path), RESEARCH_METRICS=str(metrics_path),
               RESEARCH_EXPERIMENT_ID=eid)
    return argv, env


def _run(argv, env, paths: RunPaths, eid: str, timeout_s: float):
    with open(paths.out(eid), "wb") as out, open(paths.err(eid), "wb") as err:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, start_new_session=True,
                                    preexec_fn=functools.partial(die_with_parent, os.getpid()))
        except OSError as e:
            err.write(f"error: cannot start {argv[0]!r}: {e}\n".encode())
            return START_FAILED_EXIT, False
        try:
            return proc.wait(timeout=timeout_s), False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the script's children go too
            return proc.wait(), True
