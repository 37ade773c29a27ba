"""The researcher's own script, as it is: its command line, its folder, its printed numbers.

A `RunSpec` (the hypothesis file's `run:` section, validated by parser/run_spec.py)
says how to start the script and where its numbers appear. This module is stdlib only:
a Ray node runs it too.

- The command is split like a shell line once; each `{name}` is then replaced inside
  its own argument, so a value never becomes a second argument or a shell word.
- `Reader` reads the numbers while the script runs: each line of stdout that the
  regular expression matches, or each row of a file the script writes (JSON, JSON
  lines, CSV with a header). A named group `step` plus a metric group makes a curve.
- `run` waits for the process, reading as it goes; once a run has crossed its loss
  target (fixed before it started) it ends the process group: SIGTERM, then SIGKILL
  after the grace period. The script needs no protocol of its own.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from run_config import PLACEHOLDER, RunSpec

# Loggers' own names for the two a curve needs: Hugging Face writes global_step and
# eval_loss (trainer_state.json), nanoGPT-style logs say iter.
ALIASES = {"global_step": "step", "iter": "step", "iteration": "step", "eval_loss": "val_loss"}
# What the run's own numbers are not: bookkeeping the loop writes itself.
OWN_KEYS = ("steps", "stopped_early", "train_time_s", "threads")
POLL_S = 0.1


def render(value) -> str:
    """A factor value as the script reads it on its command line."""
    return repr(value) if isinstance(value, float) else str(value)


def expand(arg: str, values: dict) -> str:
    """`arg` with each {name} replaced by its value ({{ and }} stand for braces)."""
    def one(m: re.Match) -> str:
        if m[1] is None:
            return m[0][0]
        return render(values[m[1]])
    return PLACEHOLDER.sub(one, arg)


def command_line(spec: RunSpec, values: dict) -> list[str]:
    return [expand(a, values) for a in spec.argv]


# --- reading the numbers ---------------------------------------------------------------

def _number(text) -> float | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    try:
        return float(str(text).strip().rstrip(",;"))
    except ValueError:
        return None


def _row(items) -> dict[str, float]:
    """One evaluation's numbers: the values that are numbers, a logger's own name for
    the step or the val loss read as ours (where the row has not ours already)."""
    out = {}
    for key, value in items:
        number = _number(value) if value not in (None, "") else None
        if number is not None and number == number:  # NaN is no evaluation
            out[key] = number
    for alias, name in ALIASES.items():
        if alias in out and name not in out:
            out[name] = out.pop(alias)
    return out


class Reader:
    """The numbers a running script has reported so far."""

    def __init__(self, spec: RunSpec, out_path: Path, metrics_file: Path | None = None):
        self.pattern = re.compile(spec.stdout) if spec.stdout else None
        self.out_path, self.file = Path(out_path), metrics_file
        self.points: list[dict[str, float]] = []
        self.flat: dict | None = None  # a file that is one JSON object of final metrics
        self.read = 0
        self.seen_size = -1

    def poll(self, final: bool = False) -> None:
        if self.pattern is not None:
            self._read_stdout(final)
        elif self.file is not None:
            self._read_file()

    def _read_stdout(self, final: bool) -> None:
        try:
            with open(self.out_path, "rb") as f:
                f.seek(self.read)
                chunk = f.read()
        except OSError:
            return
        lines = chunk.split(b"\n")
        if not final:
            lines = lines[:-1]  # a line still being printed waits for the next look
        self.read += sum(len(line) + 1 for line in lines) if not final else len(chunk)
        for line in lines:
            m = self.pattern.search(line.decode(errors="replace"))
            if m:
                point = _row((k, v) for k, v in m.groupdict().items() if v is not None)
                if any(k != "step" for k in point):
                    self.points.append(point)

    def _read_file(self) -> None:
        try:
            size = self.file.stat().st_size
            if size == self.seen_size:
                return
            text = self.file.read_text(errors="replace")
        except OSError:
            return
        rows, flat = parse_file(text)
        if rows is None and flat is None:
            return  # half written: read it at the next look
        self.seen_size = size
        self.points, self.flat = rows or [], flat

    def crossed(self, target: float) -> bool:
        return any(p.get("val_loss", float("inf")) <= target for p in self.points)

    def metrics(self, stopped: bool, steps: int | None) -> dict | None:
        """The run's metrics file content, or None when nothing was reported."""
        if self.flat is not None:
            return dict(self.flat, stopped_early=self.flat.get("stopped_early", stopped))
        return assemble(self.points, stopped, steps)


def parse_file(text: str) -> tuple[list | None, dict | None]:
    """(rows, None) from JSON lines, CSV or a JSON object holding a list of rows (as
    trainer_state.json's log_history); (None, flat) from one JSON object of numbers;
    (None, None) when the text is not complete yet."""
    stripped = text.strip()
    if not stripped:
        return None, None
    if stripped[0] in "{[":
        try:
            whole = json.loads(stripped)
        except ValueError:
            whole = None
        if isinstance(whole, list):
            return [_row(r.items()) for r in whole if isinstance(r, dict)], None
        if isinstance(whole, dict):
            lists = [v for v in whole.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
            return ([_row(r.items()) for r in lists[0]], None) if lists else (None, whole)
        rows = []
        for line in text.splitlines():
            try:
                rows.append(_row(json.loads(line).items()))
            except (ValueError, AttributeError):
                continue  # the line being written, or not a row
        return rows or None, None
    return [_row(r.items()) for r in csv.DictReader(io.StringIO(text))], None


def assemble(points: list[dict], stopped: bool = False, steps: int | None = None) -> dict | None:
    """Metrics from the evaluations: each metric g gives final_g (its last value) and a
    curve g_curve of (step, value), val_loss gives final_val_loss and val_curve. Without a
    step, the x of a curve is the evaluation's number (1, 2, ...). `steps`: the run's
    length as its factor set it; a run stopped early ran to its last step."""
    points = [p for p in points if any(k != "step" for k in p)]
    if not points:
        return None
    finals, curves = {}, {}
    for i, p in enumerate(points, 1):
        x = p.get("step", i)
        for key, value in p.items():
            if key != "step" and key not in OWN_KEYS:
                finals[key] = value
                curves.setdefault(key, []).append([x, value])
    out = {}
    for key, value in finals.items():
        out[key if key.startswith("final_") else f"final_{key}"] = value
        out["val_curve" if key == "val_loss" else f"{key}_curve"] = curves[key]
    last = max((p["step"] for p in points if "step" in p), default=None)
    ran = last if stopped or steps is None else steps
    out["steps"] = int(ran) if ran is not None else None
    out["stopped_early"] = stopped
    return out


# --- running -----------------------------------------------------------------------------

def wait(proc: subprocess.Popen, timeout_s: float, reader: Reader | None = None,
         target: float | None = None, grace_s: float = 10.0) -> tuple[int, bool, bool]:
    """(exit code, timed out, stopped early): wait for `proc`, reading its numbers as they
    come; end it once they cross `target`. The process leads its own session, so its
    children go with it."""
    deadline = time.monotonic() + timeout_s
    watching = reader is not None
    while True:
        left = deadline - time.monotonic()
        try:
            return proc.wait(timeout=max(min(left, POLL_S) if watching else left, 0.0)), False, False
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                _kill(proc, signal.SIGKILL)
                return proc.wait(), True, False
        if reader is None:
            continue  # woke a hair before the deadline: wait out the rest
        reader.poll()
        if target is not None and reader.crossed(target):
            return end(proc, grace_s), False, True


def end(proc: subprocess.Popen, grace_s: float) -> int:
    """SIGTERM to the process group, SIGKILL if it is still there after `grace_s`."""
    _kill(proc, signal.SIGTERM)
    try:
        return proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _kill(proc, signal.SIGKILL)
        return proc.wait()


def _kill(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
