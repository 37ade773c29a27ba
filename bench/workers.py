"""Speed-up of parallel runs: the quickstart's first 8 runs with --workers 2 against 1,
on an idle machine and with one core held by a busy process.

    python bench/workers.py [--runs 8] [--repeats 3]

Measured as bench/contention.py measures (the same studies, busy loop and interleaving:
each repeat runs the four studies, idle and busy, in an order that rotates), really
training on this machine's CPU; the wall time of the whole `loop.py` command is
compared. One worker's trainer picks its threads for the cores free; two workers
get half the cores each, fewer where fewer are free (executor/slots.py).
"""
from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.contention import machine_line, measure  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the busy loop is ended
    print("at start:", machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(["w1", "w2"], args.runs, args.repeats, Path(tmp))
    print("at end:  ", machine_line())
    print(f"\nmedians of {args.repeats} ({args.runs} runs a study); busy = one core held by a busy loop")
    for busy in (False, True):
        one, two = (statistics.median(r["wall_s"] for r in results[(name, busy)]) for name in ("w1", "w2"))
        print(f"{'busy' if busy else 'idle'}: --workers 1 {one:.1f} s, --workers 2 {two:.1f} s, "
              f"speed-up {one / two:.2f}x")


if __name__ == "__main__":
    main()
