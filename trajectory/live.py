"""What the terminal shows while a study runs.

Three views behind one small interface: a live panel (rich) when stdout is a
terminal, one plain line per event otherwise (logs, CI, pipes), and nothing with
--quiet. The live panel learns a running experiment's progress by tailing its
`logs/<id>.out`, where the trainer prints `step N | train ... | val ... | Ts` at
every evaluation, so the executors need not know the view exists.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from trajectory import effects, sides

STEP_LINE = re.compile(r"^step (\d+) \| train ([\d.naninf]+) \| val ([\d.naninf]+) \| ([\d.]+)s")


def progress(out_path: Path, max_steps: int) -> tuple[int, float | None, float | None] | None:
    """(step, val loss, ETA seconds) from the last step line of a run's output, if any."""
    try:
        with open(out_path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        m = STEP_LINE.match(line)
        if m:
            step, val, elapsed = int(m[1]), float(m[3]), float(m[4])
            eta = elapsed / step * (max_steps - step) if step else None
            return step, val, eta
    return None


def _specs(pid: str, by_id: dict) -> tuple:
    """(spec, source) of a prediction, (None, None) when the view was not told it."""
    p = by_id.get(pid)
    source = by_id[p.spec.of].spec if p and p.spec.kind == "interaction" and p.spec.of in by_id else None
    return (p.spec if p else None), source


def estimates(verdicts: dict, predictions=None) -> dict[str, str]:
    """Each verdict's estimate in its prediction's own terms (`trajectory.effects`), where known."""
    by_id = {p.id: p for p in predictions or []}
    out = {}
    for pid, v in verdicts.items():
        spec, source = _specs(pid, by_id)
        text = effects.short(spec, source, v.effect, v.interval) if spec else None
        if text:
            out[pid] = text
    return out


def evidence(verdicts: dict, predictions=None) -> dict[str, str]:
    """Each verdict's e-value with its side (`trajectory.sides`), where it has one."""
    by_id = {p.id: p for p in predictions or []}
    found = {pid: sides.of_verdict(*_specs(pid, by_id), v) for pid, v in verdicts.items()}
    return {pid: e["text"] for pid, e in found.items() if e}


def verdict_text(verdicts: dict, predictions=None) -> str:
    shown = estimates(verdicts, predictions)
    return ", ".join(f"{pid} {v.status}" + (f" {v.confidence:.2f}" if v.confidence is not None else "")
                     + (f" ({shown[pid]})" if pid in shown else "") for pid, v in verdicts.items())


def outcome(record) -> str:
    """A finished run in a few words: its val loss, else (a script of the user's may report
    only its own numbers) its first final metric, else why it failed."""
    if record.status != "completed":
        return f"{record.status}: {record.error}"
    finals = {k: v for k, v in (record.metrics or {}).items() if k.startswith("final_") and isinstance(v, (int, float))}
    name = "final_val_loss" if "final_val_loss" in finals else next(iter(finals), None)
    return f"{name}={finals[name]:.4f}" if name else "completed"


class PlainView:
    """One line per finished run: greppable, fine in a log file."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def start_run(self, experiment_id: str, out_path: Path, max_steps: int, done: int, budget: int) -> None:
        pass

    def end_run(self, record, verdicts: dict, done: int, budget: int, predictions=None, left: str = "") -> None:
        what = outcome(record)
        print(f"{record.experiment_id} {record.status:9s} {what}  ({record.wall_time_s:.1f}s)  "
              f"[{done}/{budget}{', ' + left if left else ''}] | {verdict_text(verdicts, predictions)}",
              file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """A line the user should read before waiting (what the study will cost)."""
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class QuietView(PlainView):
    def end_run(self, record, verdicts: dict, done: int, budget: int, predictions=None, left: str = "") -> None:
        pass

    def note(self, text: str) -> None:
        pass


class LiveView(PlainView):
    """A rich panel: a progress bar per running run (several with --workers), the
    predictions, the budget."""

    def __init__(self, stream=None):
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.stream)
        self.running: dict[str, tuple[Path, int, float]] = {}
        self.verdicts: dict = {}
        self.predictions: list = []
        self.done, self.budget, self.last, self.left = 0, 0, [], ""
        self.live = Live(get_renderable=self._render, console=self.console, refresh_per_second=2,
                         transient=True)
        self.live.start()

    def start_run(self, experiment_id: str, out_path: Path, max_steps: int, done: int, budget: int) -> None:
        self.running[experiment_id] = (out_path, max_steps, time.monotonic())
        self.done, self.budget = done, budget

    def end_run(self, record, verdicts: dict, done: int, budget: int, predictions=None, left: str = "") -> None:
        self.running.pop(record.experiment_id, None)
        self.verdicts, self.done, self.budget, self.left = verdicts, done, budget, left
        self.predictions = predictions or []
        self.live.console.print(self._line(record))

    def note(self, text: str) -> None:
        self.live.console.print(text)

    def _line(self, record) -> str:
        what = outcome(record) if record.status == "completed" else f"[red]{record.status}[/]: {record.error}"
        return f"{record.experiment_id} {what} ({record.wall_time_s:.1f}s)"

    def _render(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        table.add_row(f"[bold]experiments[/] {self.done}/{self.budget}" + (f", {self.left}" if self.left else ""))
        for eid, (out, max_steps, started) in list(self.running.items()):
            state = progress(out, max_steps)
            step, val, eta = state if state else (0, None, None)
            bar = ProgressBar(total=max_steps, completed=step, width=30)
            tail = f"step {step}/{max_steps}" + (f"  val {val:.4f}" if val is not None else "") + \
                (f"  ETA {eta:.0f}s" if eta is not None else f"  {time.monotonic() - started:.0f}s")
            table.add_row(f"{eid}", bar, tail)
        shown, sided = estimates(self.verdicts, self.predictions), evidence(self.verdicts, self.predictions)
        for pid, v in self.verdicts.items():
            conf = "  -  " if v.confidence is None else f"{v.confidence:.2f}"
            table.add_row(f"  {pid}", f"{conf} {v.status}",
                          sided.get(pid, "") + (f"  {shown[pid]}" if pid in shown else ""))
        return table

    def close(self) -> None:
        self.live.stop()


def make_view(quiet: bool, stream=None):
    stream = stream or sys.stdout
    if quiet:
        return QuietView(stream)
    if stream.isatty():
        try:
            return LiveView(stream)
        except ImportError:
            pass
    return PlainView(stream)
