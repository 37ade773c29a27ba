"""How many torch threads a CPU run gets: as many as there are cores free, measured.

torch's default is one intra-op thread per core. Its OpenMP threads meet at a barrier
after every op and spin there, so once another process holds a core, the thread that
shares it is descheduled for whole time slices while the others spin and wait for it.
Measured on 2 cores (BENCHMARKS.md, "Threads on a shared machine"): the quickstart's
model trains at ~200k tokens/s with 2 threads and ~175k with 1 on an idle machine, and
with one core held by a busy process, 4k-29k with 2 threads against 88k-176k with 1.
Not spinning (OMP_WAIT_POLICY=PASSIVE) is no cure: 2 threads then train at ~80k idle
and 28k-84k busy, both below 1 thread. So the count follows the load: the cores this
process may use (sched_getaffinity) less those other processes keep busy, read from
/proc/stat over a window, minus this process's own CPU time in that window (so a run
measuring itself, or the loop measuring with runs in flight, counts correctly).

Erring low costs little (1 thread instead of 2 loses ~15% on the quickstart's model,
~30% on transformer_small) and erring high costs up to 30x, so a core counts as free
only when at most SLACK of it is busy elsewhere.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

# Of a core: background noise (shells, the loop between runs) still counts as free. A
# judgement, not a fit: tried against a 15-50% duty-cycle busy loop, the 2-core machine was
# already shared by other work and 2 threads lost to 1 at every duty (4k-7k against 60k-82k).
SLACK = 0.3
MIN_WINDOW_S = 0.1  # /proc/stat counts in 10 ms ticks: 0.1 s on 2 cores reads to 0.05 of a core
RECHECK_S = 2.0  # a running trainer looks again this often: a core taken mid-run is given back soon


def usable_cores() -> list[int]:
    """The CPUs this process may run on (a container or taskset may allow fewer than exist)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def choose(cores: int, busy_elsewhere: float | None, cap: int | None = None) -> int:
    """Threads for a run: floor(cores - busy_elsewhere + SLACK), within [1, min(cores, cap)].

    `busy_elsewhere`: cores' worth of CPU time other processes took over the window;
    None (not measurable, e.g. no /proc) leaves all the cores, torch's own default.
    """
    most = max(1, min(cores, cap or cores))
    if busy_elsewhere is None:
        return most
    free = math.floor(cores - busy_elsewhere + SLACK)
    return max(1, min(most, free))


@dataclass(frozen=True)
class Sample:
    """A moment's CPU counters: busy seconds of the usable cores, this process's CPU seconds."""

    wall: float
    busy: float | None  # None where /proc/stat cannot be read
    own: float


def busy_seconds(stat_text: str, cpus: list[int], tick: float) -> float | None:
    """Busy seconds of the listed CPUs, from /proc/stat's per-CPU lines.

    Busy = user + nice + system + irq + softirq + steal (a VM's stolen time is not ours
    either); idle and iowait are free. Guest time is already inside user.
    """
    wanted, total, seen = {f"cpu{c}" for c in cpus}, 0, 0
    for line in stat_text.splitlines():
        name, *fields = line.split()
        if name in wanted and len(fields) >= 8:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
            total += user + nice + system + irq + softirq + steal
            seen += 1
    return total * tick if seen else None


def sample(cpus: list[int]) -> Sample:
    try:
        with open("/proc/stat") as f:
            busy = busy_seconds(f.read(), cpus, 1 / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        busy = None
    times = os.times()  # all of this process's threads, not its children (other runs are "elsewhere")
    return Sample(time.monotonic(), busy, times.user + times.system)


def busy_elsewhere(before: Sample, after: Sample) -> float | None:
    """Cores' worth of CPU other processes used between two samples (>= 0), or None."""
    wall = after.wall - before.wall
    if before.busy is None or after.busy is None or wall <= 0:
        return None
    return max(0.0, ((after.busy - before.busy) - (after.own - before.own)) / wall)


def wait_out(since: Sample, window_s: float = MIN_WINDOW_S) -> None:
    """Sleep off what is left of a window that began at `since` (a sample's clock is monotonic)."""
    left = window_s - (time.monotonic() - since.wall)
    if left > 0:
        time.sleep(left)


def measure(read: Callable[[], Sample]) -> float | None:
    """Busy elsewhere over a fresh window of MIN_WINDOW_S."""
    start = read()
    wait_out(start)
    return busy_elsewhere(start, read())


def env_threads(environ) -> int | None:
    """OMP_NUM_THREADS when it names a positive count (torch itself reads it), else None."""
    text = environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def for_run(threads: int, device_type: str, apply: Callable[[int], None],
            environ=os.environ) -> "tuple[Governor | None, dict]":
    """A Governor to start before training, or None and the metrics of a fixed count.

    A count someone chose wins, applied now: the config's `threads`, else OMP_NUM_THREADS.
    On CUDA the intra-op threads do little: torch's default stays.
    """
    if threads > 0:
        apply(threads)
        return None, {"threads": threads, "threads_source": "config"}
    if env_threads(environ):
        apply(env_threads(environ))
        return None, {"threads": env_threads(environ), "threads_source": "OMP_NUM_THREADS"}
    if device_type != "cpu":
        return None, {"threads": None, "threads_source": "default"}
    return Governor.here(apply), {}


@dataclass
class Governor:
    """A run's thread count: chosen at its start, looked at again as it trains.

    `apply` sets a count (torch.set_num_threads in the trainer); `read` takes a Sample
    (of the usable cores; a test passes canned ones). `changes` lists [step, threads]
    for each change after the start, for the metrics.
    """

    cores: int
    apply: Callable[[int], None]
    read: Callable[[], Sample]
    threads: int = 0
    busy: float | None = None  # measured at the start
    last: Sample | None = None  # where the next window starts: made, then started, then each look
    changes: list = field(default_factory=list)

    def __post_init__(self):
        self.last = self.read()

    @classmethod
    def here(cls, apply: Callable[[int], None]) -> "Governor":
        cpus = usable_cores()
        return cls(len(cpus), apply, lambda: sample(cpus))

    def start(self) -> int:
        """Choose from the load since the Governor was made (a run makes it before loading
        data and building the model, so the window costs little waiting)."""
        wait_out(self.last)
        now = self.read()
        self.busy, self.last = busy_elsewhere(self.last, now), now
        self.threads = choose(self.cores, self.busy)
        self.apply(self.threads)
        return self.threads

    def recheck(self, step: int) -> None:
        """Choose again from the load since the last look, once RECHECK_S have passed (a
        shorter window reads mostly noise). Called every step: until then it costs a clock read."""
        if time.monotonic() - self.last.wall < RECHECK_S:
            return
        now = self.read()
        wanted = choose(self.cores, busy_elsewhere(self.last, now))
        self.last = now
        if wanted != self.threads:
            self.threads = wanted
            self.apply(wanted)
            self.changes.append([step, wanted])

    def metrics(self) -> dict:
        return {"threads": self.threads, "threads_source": "measured", "cores": self.cores,
                "busy_cores_elsewhere": self.busy, "thread_changes": self.changes}
