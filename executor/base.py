"""What every backend promises: a config in, a `RunResult` out, failures as results.

A backend never raises for a run that went wrong (crash, timeout, bad exit code):
it returns a result that says so, and the loop records it and goes on.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from run_config import TrainConfig

STDERR_TAIL_CHARS = 2000
DIVERGED_EXIT = 3  # executor.train's exit code for NaN/inf or diverging loss (also the command contract)
START_FAILED_EXIT = 127  # the shell's "command not found"
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}
OOM_MARKERS = ("MemoryError", "out of memory", "can't allocate memory", "Cannot allocate memory",
               "std::bad_alloc")


@dataclass(frozen=True)
class RunResult:
    experiment_id: str
    status: str  # completed | failed | timeout
    returncode: int | None
    wall_time_s: float
    metrics_path: Path
    error: str | None = None
    stderr_tail: str | None = None
    cause: str | None = None  # parser.schema.Cause; None when completed
    attempts: int = 1  # > 1 when a backend resubmitted a run lost with its machine (ray)
    script: dict | None = None  # the user's script that ran: command, workdir, version (executor/identity.py)

    @property
    def timed_out(self) -> bool:
        return self.status == "timeout"


@dataclass(frozen=True)
class RunPaths:
    """Where one run's files go inside the run directory."""

    config_dir: Path
    log_dir: Path
    metrics_dir: Path

    @classmethod
    def under(cls, run_dir: Path) -> "RunPaths":
        paths = cls(run_dir / "configs", run_dir / "logs", run_dir / "metrics")
        for p in (paths.config_dir, paths.log_dir, paths.metrics_dir):
            p.mkdir(parents=True, exist_ok=True)
        return paths

    def out(self, experiment_id: str) -> Path:
        return self.log_dir / f"{experiment_id}.out"

    def err(self, experiment_id: str) -> Path:
        return self.log_dir / f"{experiment_id}.err"

    def metrics(self, experiment_id: str) -> Path:
        return self.metrics_dir / f"{experiment_id}.json"

    def work(self, experiment_id: str) -> Path:
        """The run's own folder for the user's script (`{run_dir}`), beside the others."""
        return self.config_dir.parent / "work" / experiment_id


@runtime_checkable
class Executor(Protocol):
    name: str

    def run(self, config: TrainConfig, paths: RunPaths, timeout_s: float) -> RunResult: ...

    def close(self) -> None: ...


def stderr_tail(path: Path, limit: int = STDERR_TAIL_CHARS) -> str:
    """The end of a captured stream, read without loading a flood of output."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def last_error_line(tail: str) -> str | None:
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.lower().startswith("error"):
            return line
    return lines[-1] if lines else None


def cause_of(returncode: int | None, timed_out: bool, tail: str) -> str | None:
    """Why a run did not complete, from how it ended and what it last printed.

    Memory exhaustion wins over how the process then died (a MemoryError traceback,
    an allocator abort); a SIGKILL we did not send is most often the kernel's OOM killer,
    but we can't tell, so it stays "killed".
    """
    if timed_out:
        return "timeout"
    if returncode == 0:
        return None
    if any(marker in tail for marker in OOM_MARKERS):
        return "oom"
    if returncode is None:
        return "killed"
    if returncode < 0:
        return "crash" if -returncode in CRASH_SIGNALS else "killed"
    if returncode == DIVERGED_EXIT:
        return "diverged"
    if returncode == START_FAILED_EXIT and "cannot start" in tail:
        return "start_failed"
    return "exception" if "Traceback (most recent call last)" in tail else "error"


def outcome(experiment_id: str, returncode: int | None, timed_out: bool, wall: float,
            paths: RunPaths, timeout_s: float) -> RunResult:
    """Turn an exit into a result: the status, the cause, and the error in one line."""
    tail = stderr_tail(paths.err(experiment_id))
    metrics_path = paths.metrics(experiment_id)
    cause = cause_of(returncode, timed_out, tail)
    if timed_out:
        return RunResult(experiment_id, "timeout", returncode, wall, metrics_path,
                         f"timed out after {timeout_s:g} s", tail, cause)
    if returncode == 0:
        return RunResult(experiment_id, "completed", 0, wall, metrics_path, None, tail)
    error = last_error_line(tail)
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else "?"
        error = f"killed by signal {-returncode} ({name})" + (f": {error}" if error else "")
    return RunResult(experiment_id, "failed", returncode, wall, metrics_path,
                     error or f"exit code {returncode}", tail, cause)


def fresh_start(paths: RunPaths, experiment_id: str) -> None:
    """Remove a metrics file left by an attempt that a kill interrupted, so a rerun that
    exits 0 without writing one is not credited with the old run's numbers."""
    paths.metrics(experiment_id).unlink(missing_ok=True)


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to kill this process when its parent goes, so no orphan keeps training
    after the loop is killed (a new session escapes the loop's process group).

    `parent`: the pid that started us; if it is already gone, exit now (the request
    only covers a death after it is made).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)
