"""Speed-up of parallel runs: the quickstart's first 8 runs with --workers 2 against 1.

    python bench/workers.py [--runs 8] [--repeats 3]

Each repeat runs the two studies back to back (alternating which goes first), each
in a fresh process and run directory, really training on this machine's CPU; the
wall time of the whole `loop.py` command is compared. One worker leaves torch its
default threads (all cores); two workers get half the cores each (executor/slots.py).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def study(workers: int, runs: int, out: Path) -> float:
    cmd = [sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(ROOT / "examples" / "quickstart.yaml"),
           "--max-experiments", str(runs), "--workers", str(workers), "--out", str(out), "--quiet"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            for workers in ((1, 2) if k % 2 == 0 else (2, 1)):
                t = study(workers, args.runs, Path(tmp) / f"w{workers}-{k}")
                times[workers].append(t)
                print(f"repeat {k}: --workers {workers}: {t:.1f} s", flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"median of {args.repeats}: --workers 1 {one:.1f} s, --workers 2 {two:.1f} s, "
          f"speed-up {one / two:.2f}x ({args.runs} runs each)")


if __name__ == "__main__":
    main()
