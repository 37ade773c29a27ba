"""The study's derived files: rewritten after every run unless writing them has grown slow,
and then off the loop's path."""
import json
import threading

import pytest

from parser.schema import Hypothesis
from planner.space import Space
from tests.records import comparison, pairs
from trajectory import writes
from trajectory.study import open_study
from trajectory.writes import PACED_FROM

GRID = {"model": ["transformer_small"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
        "learning_rate": [3e-4], "dataset_fraction": [0.1]}


class Clock:
    """time.monotonic for the study's writes, moved on by them and by the test (no test reads this machine's speed)."""
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def timed(tmp_path, monkeypatch):
    """A study whose k-th write takes durations[k] seconds of a fake clock; returns the write count.
    With `held`, the writes from the held-th on wait for `held.release` (set) once begun."""
    clock = Clock()
    monkeypatch.setattr(writes.time, "monotonic", clock)
    h = Hypothesis(claim="pre-norm helps", predictions=[comparison(threshold=0.5)], initial_config=GRID)
    study = open_study(tmp_path / "run", h, Space(dict(GRID)), "", resume=False)
    written = []
    real = study._write

    def make(durations, held=None):
        def slow_write(*args):
            clock.now += durations[min(len(written), len(durations) - 1)]
            written.append(clock.now)
            if held is not None and len(written) > held.first:
                held.begun.set()
                assert held.release.wait(10)
            return real(*args)
        study._write = slow_write
        study.clock = clock
        return study, written
    yield make
    study.close()


def test_a_one_off_slow_write_does_not_hold_back_the_next_ones(timed):
    study, written = timed([10 * PACED_FROM, 0.01])  # the first write pays for imports, say
    for record in pairs([(1.5, 2.0)] * 3):
        study.append(record)
    assert len(written) == 6  # every run rewrote the files


def test_writes_that_stay_slow_are_paced(timed):
    study, written = timed([4 * PACED_FROM])  # every write takes a second
    for record in pairs([(1.5, 2.0)] * 5):
        study.append(record)
    # the first two write; from then on each waits 19x its second: a run takes no time here
    assert len(written) == 2


class Held:
    """Writes after the first `first` ones begin, then wait to be released."""
    def __init__(self, first):
        self.first, self.begun, self.release = first, threading.Event(), threading.Event()


def _runs_in_trajectory(study) -> int:
    return len(json.loads((study.run_dir / "trajectory.json").read_text())["experiments"])


def test_a_slow_write_runs_beside_the_loop_and_the_files_catch_up(timed):
    held = Held(first=2)
    study, written = timed([4 * PACED_FROM], held)
    runs = pairs([(1.5, 2.0)] * 3)
    for record in runs[:2]:
        study.append(record)  # two slow writes, here: from now on writes are paced, and in a thread
    study.clock.now += 20 * 4 * PACED_FROM  # a long run: the next write is due
    study.append(runs[2])
    assert held.begun.wait(10)  # the write has begun and not ended, yet the loop goes on:
    study.clock.now += 20 * 4 * PACED_FROM
    study.append(runs[3])  # due again, but one write at a time: this one starts none
    assert len(written) == 3 and _runs_in_trajectory(study) == 2
    held.release.set()
    study.settle()
    assert _runs_in_trajectory(study) == 3  # the state as it was when that write began
    study.stop("done", "now")
    assert len(written) == 4 and _runs_in_trajectory(study) == 4  # the stop writes it all


def test_a_write_that_fails_off_the_loops_path_fails_the_loop(timed):
    study, _ = timed([4 * PACED_FROM])
    runs = pairs([(1.5, 2.0)] * 2)
    for record in runs[:2]:
        study.append(record)

    def full_disk(*args):
        raise OSError(28, "No space left on device")
    study._write = full_disk
    study.clock.now += 100
    study.append(runs[2])  # starts the write, which fails in its thread
    with pytest.raises(OSError, match="No space left"):
        study.settle()


def test_the_files_written_a_piece_at_a_time_are_the_text_json_would_write_at_once():
    from trajectory.graph import dumps
    from tests.sim_study import finished_study
    graph = json.loads((finished_study() / "trajectory.json").read_text())
    odd = {"nan": float("nan"), "text": "é <b>", "keys": {1: "one", 2: None}, "deep": [[[[1]]], {}, []]}
    for value in (graph, odd, [], {}, "x", 1.5):
        for options in ({}, {"separators": (",", ":")}, {"ensure_ascii": False, "default": str},
                        {"sort_keys": True, "default": str}, {"indent": 1, "default": str}):
            assert dumps(value, **options) == json.dumps(value, **options)
            assert dumps(value, 4, **options) == json.dumps(value, **options)
