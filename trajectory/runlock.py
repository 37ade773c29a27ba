"""run_dir/.lock: one study, one loop at a time, and no lock file left when the loop ends.

The lock is a `flock` on `.lock`, which dies with its process, so a killed loop never
blocks the next one: a `.lock` left behind (SIGKILL, a power cut) is taken over, and
the loop says whose it was. On every other way out (a clean stop, Ctrl-C, an error
exit: `release`, or the `atexit` hook `take` registers) the file is removed.

Removing a lock file races with a process that opened it a moment before and is about
to flock it: it would lock a file no longer at the path while a third process locks a
new one. So the owner unlinks while it still holds the flock, and a locker checks,
once it holds its flock, that the file it locked is still the one at the path; if not,
it starts again.
"""
from __future__ import annotations

import atexit
import fcntl
import os
import sys
from pathlib import Path

LOCK_NAME = ".lock"


class Busy(Exception):
    """Another live process holds the study; the message says who."""


class RunLock:
    def __init__(self, path: Path, handle):
        self.path, self.handle = path, handle
        self.pid = os.getpid()

    def release(self) -> None:
        """Remove the file, then let the flock go (in that order: see the module's note)."""
        if self.handle is None or os.getpid() != self.pid:
            return  # a forked child inherits the atexit hook, not the study
        atexit.unregister(self.release)
        try:
            if _same_file(self.handle, self.path):
                self.path.unlink()
        except OSError:
            pass  # the directory went away or turned read-only: the flock still dies with us
        self.handle.close()
        self.handle = None


def take(run_dir: Path) -> RunLock:
    """The run directory's lock, held by this process until `release` (or its exit)."""
    path = run_dir / LOCK_NAME
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise Busy(f"{run_dir} is being run by {holder}") from None
        if _same_file(handle, path):
            break
        handle.close()  # its owner removed it between our open and our flock: lock the one there now
    handle.seek(0)
    left = handle.read().strip()
    if left:
        print(f"note: {path} was left by {left}, which no longer holds it (a killed loop?); "
              f"taking it over", file=sys.stderr)
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    lock = RunLock(path, handle)
    atexit.register(lock.release)
    return lock


def _same_file(handle, path: Path) -> bool:
    try:
        here, there = os.fstat(handle.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
