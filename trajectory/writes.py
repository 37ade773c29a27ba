"""When a study rewrites its derived files (trajectory.json, dashboard.html), and where.

Every run while that is quick. Once it is slow (a long study's trajectory takes seconds
to build), paced to at most ~5% of the loop's time and done in a thread, so that no
iteration waits for it: the thread writes the state as it was when the write began
(`Study.snapshot`), and no other write starts until it is done. What a thread's write
raised is raised again in the loop's thread, at its next append or `settle`.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

WRITE_PACE = 19.0  # after a write of w seconds, the next waits 19 w: writes <= 5% of the time
PACED_FROM = 0.25  # seconds: a write quicker than this (a study of up to a few thousand runs) is never skipped


class Writes:
    def __init__(self, write: Callable[[str | None, dict], dict]):
        self.write = write  # (stop reason, snapshot) -> the trajectory graph written
        self.next_write = 0.0  # time.monotonic() before which a run leaves the files be
        self.last_took = 0.0  # seconds the previous write took
        self.steady = 0.0  # the quicker of the last two: what pacing goes by
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def paced(self) -> bool:
        """Whether writing has grown slow: then it is paced, and done off the loop's path."""
        return self.steady > PACED_FROM

    def due(self) -> bool:
        """Whether a run should rewrite the files now (never while a write is under way)."""
        return time.monotonic() >= self.next_write and not self.busy()

    def soon(self, state: dict) -> None:
        """Write `state`: here while that is quick, else in a thread."""
        if not self.paced:
            self.now(None, state)
            return
        self.thread = threading.Thread(target=self._in_background, args=(state,), name="study-write")
        self.thread.start()

    def now(self, stop_reason: str | None, state: dict) -> dict:
        """Write here, after any write under way. It paces by the quicker of the last two
        writes: a write grows slow with the study, steadily, while a one-off slow one (the
        first, paying for imports, or one on a machine busy for a moment) says nothing
        about the next."""
        self.settle()
        return self._timed(stop_reason, state)

    def _timed(self, stop_reason: str | None, state: dict) -> dict:
        start = time.monotonic()
        g = self.write(stop_reason, state)
        took = time.monotonic() - start
        self.steady = min(took, self.last_took)
        self.last_took = took
        self.next_write = time.monotonic() + WRITE_PACE * self.steady if self.paced else 0.0
        return g

    def _in_background(self, state: dict) -> None:
        try:
            self._timed(None, state)
        except BaseException as e:
            self.error = e

    def busy(self) -> bool:
        """Whether a write is under way in its thread (one that has ended is collected)."""
        if self.thread is not None and not self.thread.is_alive():
            self.settle()
        return self.thread is not None

    def settle(self) -> None:
        """Wait for a write under way; raise what it raised."""
        self.wait()
        error, self.error = self.error, None
        if error is not None:
            raise error

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
