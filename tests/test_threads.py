"""Threads for the cores actually free: the choice from injected load, the trainer's record of it."""
import json
import time
from dataclasses import replace

import pytest
import torch

from executor import threads
from executor import train as train_mod
from run_config import TrainConfig
from executor.slots import Slots

STAT = """cpu  900 0 90 5000 10 0 0 0 0 0
cpu0 100 5 20 1000 7 3 2 1 0 0
cpu1 400 0 40 2000 3 0 0 0 0 0
cpu2 50 0 10 3000 0 0 0 0 0 0
intr 1 2 3
"""


def at(wall, busy, own):
    return threads.Sample(wall=wall, busy=busy, own=own)


def test_an_idle_machine_gets_a_thread_per_core():
    assert threads.choose(cores=2, busy_elsewhere=0.0) == 2
    assert threads.choose(cores=16, busy_elsewhere=0.05) == 16


def test_a_core_held_elsewhere_is_left_to_its_holder():
    assert threads.choose(cores=2, busy_elsewhere=1.0) == 1
    assert threads.choose(cores=8, busy_elsewhere=2.6) == 5


def test_background_noise_still_counts_as_free_but_half_a_core_does_not():
    assert threads.choose(cores=2, busy_elsewhere=threads.SLACK - 0.05) == 2
    assert threads.choose(cores=2, busy_elsewhere=0.5) == 1


def test_a_run_always_gets_at_least_one_thread_and_never_more_than_its_cap():
    assert threads.choose(cores=2, busy_elsewhere=7.0) == 1
    assert threads.choose(cores=8, busy_elsewhere=0.0, cap=3) == 3
    assert threads.choose(cores=8, busy_elsewhere=6.0, cap=3) == 2


def test_an_unmeasurable_load_leaves_torchs_default_of_all_cores():
    assert threads.choose(cores=4, busy_elsewhere=None) == 4
    assert threads.choose(cores=4, busy_elsewhere=None, cap=2) == 2


def test_busy_time_counts_only_the_usable_cores_and_not_idle_or_iowait():
    # cpu0: user 100 + nice 5 + system 20 + irq 3 + softirq 2 + steal 1 = 131 ticks
    assert threads.busy_seconds(STAT, [0], tick=0.01) == pytest.approx(1.31)
    assert threads.busy_seconds(STAT, [0, 2], tick=0.01) == pytest.approx(1.31 + 0.60)
    assert threads.busy_seconds(STAT, [7], tick=0.01) is None


def test_this_processs_own_cpu_time_is_not_load_from_elsewhere():
    # 2 s of wall time: 3 core-seconds busy, 2 of them this process's own threads
    assert threads.busy_elsewhere(at(10, 100, 5), at(12, 103, 7)) == pytest.approx(0.5)
    assert threads.busy_elsewhere(at(10, 100, 5), at(12, 101, 7)) == 0.0  # tick rounding, not negative
    assert threads.busy_elsewhere(at(10, None, 5), at(12, None, 7)) is None


class Canned:
    """Samples handed out in order, as /proc/stat and os.times() would give them."""

    def __init__(self, *samples):
        self.samples = list(samples)

    def __call__(self):
        return self.samples.pop(0)


def test_the_governor_starts_with_the_free_cores_and_follows_the_load():
    applied = []
    canned = Canned(at(0, 0, 0), at(1, 1.0, 0.0),  # made, started: one core busy elsewhere
                    at(4, 4.0, 1.5),  # 3 s on: half a core still busy elsewhere
                    at(8, 8.0, 5.5))  # 4 s on: it is gone (own CPU covers all the busy time)
    gov = threads.Governor(cores=2, apply=applied.append, read=canned)
    assert gov.start() == 1 and gov.busy == pytest.approx(1.0)
    gov.recheck(step=50)
    gov.recheck(step=75)
    assert applied == [1, 2] and gov.changes == [[75, 2]] and gov.threads == 2
    assert gov.metrics() == {"threads": 2, "threads_source": "measured", "cores": 2,
                             "busy_cores_elsewhere": pytest.approx(1.0), "thread_changes": [[75, 2]]}


def test_the_governor_does_not_look_again_within_seconds_of_its_last_look(monkeypatch):
    monkeypatch.setattr(threads, "RECHECK_S", 60.0)  # however slow the machine, 100 calls take less
    reads = []

    def now():
        reads.append(1)
        return at(time.monotonic(), 0.0, 0.0)

    gov = threads.Governor(cores=2, apply=lambda n: None, read=now)
    gov.start()
    for step in range(100):
        gov.recheck(step)
    assert len(reads) == 2 and gov.changes == []  # made and started only


def test_an_explicit_thread_count_wins_and_cuda_keeps_torchs_default():
    applied = []
    assert threads.for_run(3, "cpu", applied.append, environ={"OMP_NUM_THREADS": "2"}) == \
        (None, {"threads": 3, "threads_source": "config"})
    assert threads.for_run(0, "cpu", applied.append, environ={"OMP_NUM_THREADS": "2"}) == \
        (None, {"threads": 2, "threads_source": "OMP_NUM_THREADS"})
    assert threads.for_run(0, "cuda", applied.append, environ={}) == \
        (None, {"threads": None, "threads_source": "default"})
    assert applied == [3, 2]
    governor, _ = threads.for_run(0, "cpu", applied.append, environ={"OMP_NUM_THREADS": "lots"})
    assert isinstance(governor, threads.Governor)


def test_this_machine_can_be_measured():
    if threads.sample(threads.usable_cores()).busy is None:
        pytest.skip("no /proc/stat: the load is not measurable here (threads = all cores)")
    busy = threads.measure(lambda: threads.sample(threads.usable_cores()))
    assert 0.0 <= busy <= len(threads.usable_cores()) + 0.5  # tick rounding


def test_each_workers_share_shrinks_to_what_is_free_when_its_run_starts():
    loads = iter([0.0, 3.0, 6.5])
    slots = Slots.plan(2, device="cpu", cpus=8, gpus=[], busy=lambda: next(loads))
    assert [slots.config(0)["threads"] for _ in range(3)] == [4, 4, 1]


def test_a_share_of_one_thread_is_not_measured():
    def never():
        raise AssertionError("measured a share that cannot shrink")

    assert Slots.plan(2, device="cpu", cpus=2, gpus=[], busy=never).config(1) == {"threads": 1}


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def tiny(tmp_path, **overrides) -> TrainConfig:
    base = TrainConfig(model="transformer_tiny", dataset="synthetic", seq_len=32, batch_size=16, max_steps=20,
                       eval_interval=10, eval_batches=2, learning_rate=3e-3, device="cpu", threads=0,
                       metrics_path=str(tmp_path / "metrics.json"))
    return replace(base, **overrides)


def test_a_run_without_threads_records_the_count_it_measured(tmp_path, torch_threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    metrics = train_mod.train(tiny(tmp_path))
    cores = len(threads.usable_cores())
    assert metrics["threads_source"] == "measured" and metrics["cores"] == cores
    assert 1 <= metrics["threads"] <= cores
    assert json.loads((tmp_path / "metrics.json").read_text())["threads"] == metrics["threads"]


def test_a_run_with_explicit_threads_records_them_as_the_configs(tmp_path, torch_threads):
    metrics = train_mod.train(tiny(tmp_path, threads=1))
    assert (metrics["threads"], metrics["threads_source"]) == (1, "config")
