"""A finished run (its result and metrics file) -> one validated result record."""
from __future__ import annotations

import functools
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from pydantic import ValidationError

from parser.design import config_hash
from parser.log import now
from parser.schema import Metrics, ResultRecord

METRICS_LIMIT_BYTES = 16 * 1024 * 1024  # a metrics file is small; anything bigger is broken


def read_metrics(path: Path) -> tuple[dict | None, str | None]:
    """(metrics, None) or (None, why the file is unusable)."""
    try:
        if path.stat().st_size > METRICS_LIMIT_BYTES:
            return None, f"metrics file {path.name} is over {METRICS_LIMIT_BYTES} bytes"
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"metrics file {path.name} was not written"
    except (OSError, ValueError) as e:
        return None, f"metrics file {path.name} is malformed: {e}"
    if not isinstance(data, dict):
        return None, f"metrics file {path.name} holds a {type(data).__name__}, not an object"
    try:
        return Metrics.model_validate(data).model_dump(), None
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        return None, f"metrics file {path.name}: {field}: {first['msg']}"


def to_record(result, config: dict, plan: dict, started_at: str) -> ResultRecord:
    """Build the log record; a run that exited 0 without usable metrics is a failure."""
    status, error, metrics = result.status, result.error, None
    cause = result.cause
    if status == "completed":
        metrics, problem = read_metrics(result.metrics_path)
        if problem:
            status, error = "failed", problem
            cause = "metrics_malformed" if result.metrics_path.exists() else "metrics_missing"
    return ResultRecord(
        experiment_id=result.experiment_id, hypothesis_id=plan.get("hypothesis_id", "H1"),
        config=config, config_hash=config_hash(config), seed=config["seed"], status=status, cause=cause,
        metrics=metrics, error=error, stderr_tail=None if status == "completed" else result.stderr_tail,
        returncode=result.returncode, wall_time_s=round(result.wall_time_s, 3),
        **compute(metrics, config, result.wall_time_s), attempts=getattr(result, "attempts", 1),
        script=getattr(result, "script", None),
        planner=plan.get("planner", "offline"), rationale=plan.get("rationale", ""),
        targets=plan.get("targets", []), pair=plan.get("pair"), llm=plan.get("llm"), started_at=started_at,
        finished_at=now(), git_commit=git_commit(), versions=versions(),
        dataset_sha256=(metrics or {}).get("dataset_sha256"))


def compute(metrics: dict | None, config: dict, wall_time_s: float) -> dict:
    """The record's compute fields: training seconds and steps, and whether it stopped early.

    From the metrics when they say (train_time_s, steps, stopped_early), else the wall time
    and the val curve's last step; a run that stopped before config.max_steps stopped early.
    Only the built-in trainer's runs have a max_steps of their own when the config does not
    say: a script's runs ran what their metrics say, never an assumed default.
    """
    m = metrics or {}
    seconds = m.get("train_time_s") if isinstance(m.get("train_time_s"), (int, float)) else None
    steps = m.get("steps") if isinstance(m.get("steps"), int) else None
    curve = m.get("val_curve") or []
    if steps is None and curve:
        steps = int(curve[-1][0])
    early = m.get("stopped_early")
    if not isinstance(early, bool):
        early = steps is not None and isinstance(config.get("max_steps"), int) and steps < config["max_steps"]
    return {"train_time_s": round(seconds if seconds else wall_time_s, 3), "steps": steps,
            "stopped_early": early}


@functools.cache
def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("torch", "numpy"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
