"""The study's derived files: rewritten after every run unless writing them has grown slow."""
import pytest

from parser.schema import Hypothesis
from planner.space import Space
from tests.records import comparison, pairs
from trajectory import study as study_module
from trajectory.study import PACED_FROM, open_study

GRID = {"model": ["transformer_small"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
        "learning_rate": [3e-4], "dataset_fraction": [0.1]}


class Clock:
    """time.monotonic for the study, moved on only by its writes (so no test reads this machine's speed)."""
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def timed(tmp_path, monkeypatch):
    """A study whose k-th write takes durations[k] seconds of a fake clock; returns the write count."""
    clock = Clock()
    monkeypatch.setattr(study_module.time, "monotonic", clock)
    h = Hypothesis(claim="pre-norm helps", predictions=[comparison(threshold=0.5)], initial_config=GRID)
    study = open_study(tmp_path / "run", h, Space(dict(GRID)), "", resume=False)
    written = []
    real = study._write

    def make(durations):
        def slow_write(*args):
            clock.now += durations[min(len(written), len(durations) - 1)]
            written.append(clock.now)
            return real(*args)
        study._write = slow_write
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
