"""How many runs go at once (--workers), and what each one may use.

On GPUs every worker gets one card (CUDA_VISIBLE_DEVICES, through the config's
`cuda_devices`); on a CPU each worker gets an even share of the cores this process may
use (sched_getaffinity) as its most threads, and, where a share has more than one, at
each run's start only as many as are free then (executor/threads.py: threads that share
a core with another busy process spin against each other). One worker leaves the
choice to the trainer, which measures the load itself and follows it as it trains.
`--workers auto`: one per visible GPU, else one per two cores (up to 8): a small
model's step does not keep more than a couple of cores busy, and two runs side by
side use a small machine better than one run with all of them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Callable

from executor import threads as threads_mod

MAX_AUTO = 8


def visible_gpus() -> list[str]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists.

    nvidia-smi rather than torch: the loop stays free of torch, and a machine without
    the driver simply has none.
    """
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [d.strip() for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(line for line in out.splitlines() if line.startswith("GPU "))]


def parse_workers(text: str) -> int | str:
    """argparse type of --workers: a positive integer or 'auto'."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"--workers must be a positive integer or 'auto', not {text!r}") from None
    if n < 1:
        raise ValueError(f"--workers must be at least 1, not {n}")
    return n


def busy_now() -> float | None:
    """Cores' worth kept busy by other processes (runs in flight included) over a short window."""
    cpus = threads_mod.usable_cores()
    return threads_mod.measure(lambda: threads_mod.sample(cpus))


@dataclass(frozen=True)
class Slots:
    n: int  # runs at once
    threads: int = 0  # most torch threads per run; 0 = the trainer's own choice (one worker)
    gpus: tuple[str, ...] = field(default=())  # one per slot, round robin; () = leave the env alone
    cores: int = 0  # the cores shared out (0: not split)
    busy: Callable[[], float | None] = field(default=busy_now, compare=False, repr=False)

    @classmethod
    def plan(cls, workers: int | str, device: str = "auto", executor: str = "local",
             cpus: int | None = None, gpus: list[str] | None = None,
             busy: Callable[[], float | None] = busy_now) -> "Slots":
        cpus = cpus or len(threads_mod.usable_cores())
        if executor == "ray":  # Ray places each task and sets its GPUs itself
            return cls(MAX_AUTO if workers == "auto" else workers)
        wants_gpu = device in ("auto", "cuda") or device.startswith("cuda")
        if gpus is None:
            gpus = visible_gpus() if wants_gpu and workers != 1 else []
        if workers == "auto":
            workers = len(gpus) if gpus else max(1, min(MAX_AUTO, cpus // 2))
        if workers == 1:
            return cls(1)
        if gpus and device in ("auto", "cuda"):
            return cls(workers, max(1, cpus // workers), tuple(gpus))
        return cls(workers, max(1, cpus // workers), cores=cpus, busy=busy)

    def config(self, slot: int) -> dict:
        """The config fields a run in this slot gets, as the run starts (the runs already in
        flight count as busy, so a run started beside them takes only what they leave)."""
        if self.n == 1:
            return {}
        out = {"threads": self.share_now()}
        if self.gpus:
            out["cuda_devices"] = self.gpus[slot % len(self.gpus)]
        return out

    def share_now(self) -> int:
        """The share, or fewer where other work holds cores; a share of 1 needs no look."""
        if self.threads <= 1 or not self.cores:
            return self.threads
        return threads_mod.choose(self.cores, self.busy(), cap=self.threads)
