"""The quickstart's speed on an idle machine and with one core held by another process.

    python bench/contention.py [--runs 4] [--repeats 3] [--settings w1,w1-1t,w2]

Each repeat runs every setting twice, idle and busy, in an order that rotates with the
repeat, so both conditions see the same drift in what else the machine runs. Busy: the
bench starts `python -c "while True: pass"` (a core's worth of someone else's work) and
kills it by its pid when the study ends, on an error or a Ctrl-C too. A study is the
real CLI (`loop.py --hypothesis examples/quickstart.yaml --max-experiments RUNS`) in a
fresh run directory; its throughput is the median tokens/s of its runs (the trainer's
own, evals excluded), its wall time the whole command's. Before each study the bench
reads how many cores' worth other processes were using (0.5 s of /proc/stat), so a
reader can tell a quiet machine from a shared one.

Settings: w1 = --workers 1, threads chosen by the trainer (executor/threads.py);
w1-1t = --workers 1 with OMP_NUM_THREADS=1 (the one-thread floor); w1-2t = --workers 1
with OMP_NUM_THREADS=2 (torch's default before the choice: a thread per core);
w1-2t-passive = the same without spin-waiting (OMP_WAIT_POLICY=PASSIVE); w2 = --workers 2. Target: busy >= 0.6x idle for each setting, and w1 busy >= w1-1t busy.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from executor import threads  # noqa: E402

# name: (--workers, environment); an OMP_NUM_THREADS fixes the count (executor/threads.py)
SETTINGS = {"w1": (1, {}), "w1-1t": (1, {"OMP_NUM_THREADS": "1"}), "w1-2t": (1, {"OMP_NUM_THREADS": "2"}),
            "w1-2t-passive": (1, {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}), "w2": (2, {})}
HOG = [sys.executable, "-c", "while True: pass"]


@contextlib.contextmanager
def one_core_busy(busy: bool):
    """A busy loop for the block's length, ended by its pid however the block ends."""
    hog = subprocess.Popen(HOG) if busy else None
    try:
        yield hog
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def study(workers: int, extra_env: dict, runs: int, out: Path) -> dict:
    """One quickstart study; wall time, the runs' median tokens/s and the threads they used."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    env.update(extra_env)
    cmd = [sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(ROOT / "examples" / "quickstart.yaml"),
           "--max-experiments", str(runs), "--workers", str(workers), "--out", str(out), "--quiet"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    lines = [json.loads(x) for x in (out / "research_log.jsonl").read_text().splitlines() if x.strip()]
    metrics = [r["metrics"] for r in lines if r.get("record") == "experiment" and r.get("metrics")]
    return {"wall_s": wall, "n": len(metrics), "tokens_per_s": statistics.median(m["tokens_per_s"] for m in metrics),
            "threads": sorted({m.get("threads") for m in metrics} | {c for m in metrics
                                                                    for _, c in m.get("thread_changes", [])})}


def busy_elsewhere(window_s: float = 0.5) -> float:
    """Cores' worth other processes kept busy over a window (nan where unmeasurable)."""
    cpus = threads.usable_cores()
    start = threads.sample(cpus)
    threads.wait_out(start, window_s)
    busy = threads.busy_elsewhere(start, threads.sample(cpus))
    return float("nan") if busy is None else busy


def machine_line() -> str:
    """What a reader needs to tell whether the machine was shared while measuring."""
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return (f"{len(threads.usable_cores())} usable cores; load average {load}; "
            f"cores busy elsewhere (1 s) {busy_elsewhere(1.0):.2f}")


def measure(names: list[str], runs: int, repeats: int, tmp: Path) -> dict:
    """{(setting, busy): [study results]}, the conditions interleaved."""
    trials = [(name, busy) for name in names for busy in (False, True)]
    results: dict = {trial: [] for trial in trials}
    for k in range(repeats):
        shift = k % len(trials)
        for name, busy in trials[shift:] + trials[:shift]:
            workers, env = SETTINGS[name]
            before = busy_elsewhere()  # what others ran just before: the machine's sharing, not ours
            with one_core_busy(busy):
                r = study(workers, env, runs, tmp / f"{name}-{'busy' if busy else 'idle'}-{k}")
            results[(name, busy)].append(dict(r, elsewhere=before))
            print(f"repeat {k}: {name:13} {'busy' if busy else 'idle'}: {r['wall_s']:6.1f} s ({r['n']} runs), "
                  f"{r['tokens_per_s'] / 1e3:6.1f}k tokens/s, threads {r['threads']}, "
                  f"{before:.2f} cores busy elsewhere just before", flush=True)
    return results


def report(names: list[str], results: dict, runs: int, repeats: int) -> None:
    med = {key: {f: statistics.median(r[f] for r in rs) for f in ("wall_s", "tokens_per_s", "elsewhere")}
           for key, rs in results.items()}
    print(f"\nmedians of {repeats} ({runs} quickstart runs a study); busy = one core held by a busy loop")
    print(f"{'setting':13} {'idle tok/s':>11} {'busy tok/s':>11} {'busy/idle':>9} "
          f"{'idle wall':>9} {'busy wall':>9} {'threads idle/busy':>18} {'elsewhere idle/busy':>20}")
    for name in names:
        idle, busy = med[(name, False)], med[(name, True)]
        used = [sorted({t for r in results[(name, b)] for t in r["threads"]}) for b in (False, True)]
        print(f"{name:13} {idle['tokens_per_s'] / 1e3:10.1f}k {busy['tokens_per_s'] / 1e3:10.1f}k "
              f"{busy['tokens_per_s'] / idle['tokens_per_s']:8.2f}x {idle['wall_s']:8.1f}s {busy['wall_s']:8.1f}s "
              f"{str(used[0]):>9}/{str(used[1]):8} {idle['elsewhere']:10.2f}/{busy['elsewhere']:.2f}")
    if "w1" in names and "w1-1t" in names:
        floor = med[("w1", True)]["tokens_per_s"] / med[("w1-1t", True)]["tokens_per_s"]
        print(f"w1 busy against one thread busy: {floor:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=4, help="quickstart runs a study (--max-experiments)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--settings", default="w1,w1-1t,w2", help=f"comma-separated, of {','.join(SETTINGS)}")
    args = p.parse_args()
    names = args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        p.error(f"unknown settings {unknown}; known: {', '.join(SETTINGS)}")
    # A kill (SIGTERM) unwinds like Ctrl-C, so the busy loop's `finally` ends it too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print("at start:", machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(names, args.runs, args.repeats, Path(tmp))
    print("at end:  ", machine_line())
    report(names, results, args.runs, args.repeats)


if __name__ == "__main__":
    main()
