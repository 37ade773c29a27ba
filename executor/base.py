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

from executor.config import TrainConfig

STDERR_TAIL_CHARS = 2000


@dataclass(frozen=True)
class RunResult:
    experiment_id: str
    status: str  # completed | failed | timeout
    returncode: int | None
    wall_time_s: float
    metrics_path: Path
    error: str | None = None
    stderr_tail: str | None = None

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


def outcome(experiment_id: str, returncode: int | None, timed_out: bool, wall: float,
            paths: RunPaths, timeout_s: float) -> RunResult:
    """Turn an exit into a result: the status, and the cause in one line."""
    tail = stderr_tail(paths.err(experiment_id))
    metrics_path = paths.metrics(experiment_id)
    if timed_out:
        return RunResult(experiment_id, "timeout", returncode, wall, metrics_path,
                         f"timed out after {timeout_s:g} s", tail)
    if returncode == 0:
        return RunResult(experiment_id, "completed", 0, wall, metrics_path, None, tail)
    error = last_error_line(tail)
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else "?"
        error = f"killed by signal {-returncode} ({name})" + (f": {error}" if error else "")
    return RunResult(experiment_id, "failed", returncode, wall, metrics_path,
                     error or f"exit code {returncode}", tail)
