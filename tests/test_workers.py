"""--workers N: runs at once, the planner told what is in flight, the log a faithful replay."""
import json
import sys
import threading
import time
from pathlib import Path

import pytest

import loop
from executor.slots import Slots, parse_workers
from parser import log
from parser.checker.verdicts import assess_all
from parser.hypothesis import load_hypothesis, search_space
from parser.design import run_key
from planner.offline import OfflinePlanner
from planner.space import Space
from tests.records import comparison, pairs

ROOT = Path(__file__).resolve().parent.parent
SIM = ["--hypothesis", str(ROOT / "examples" / "quickstart.yaml"), "--executor", "sim",
       "--sim", str(ROOT / "examples" / "sim_truth.yaml"), "--quiet"]


def verdicts(run_dir: Path) -> dict:
    g = json.loads((run_dir / "trajectory.json").read_text())
    return {p["id"]: p["status"] for p in g["predictions"]}


def test_two_workers_reach_the_same_verdicts_as_one(tmp_path):
    for n in (1, 2):
        assert loop.main(SIM + ["--max-experiments", "60", "--workers", str(n), "--out", str(tmp_path / f"w{n}")]) == 0
    one, two = verdicts(tmp_path / "w1"), verdicts(tmp_path / "w2")
    assert one == two == {"p1": "confirmed", "p2": "confirmed"}


def test_the_planner_never_proposes_a_run_in_flight():
    p = comparison()
    space = Space({"norm_position": ["pre", "post"], "dataset_fraction": [0.1, 1.0]})
    planner = OfflinePlanner(max_seeds=5)
    first = planner.propose([p], assess_all([p], []), [], space)
    second = planner.propose([p], assess_all([p], []), [], space, pending=tuple(first.runs))
    assert {run_key(r) for r in first.runs}.isdisjoint({run_key(r) for r in second.runs})


def test_runs_in_flight_count_as_evidence_to_come():
    """Two pairs already running in one region make that region worth less than before."""
    p = comparison()
    records = pairs([(1.9, 2.0), (2.1, 2.0)])  # no clear sign yet
    space = Space({"norm_position": ["pre", "post"], "dataset_fraction": [0.1]})
    planner = OfflinePlanner(max_seeds=10)
    open_ = [p]
    alone = planner.rank(open_, {"p1": p}, records, space)[0].gain
    in_flight = tuple(dict(r.config, seed=s) for s in (7, 8) for r in records[:2])
    less = planner.rank(open_, {"p1": p}, records, space, pending=in_flight)[0].gain
    assert less < alone


def test_a_pair_partner_in_flight_is_not_proposed_again():
    p = comparison()
    records = pairs([(1.5, 2.0)])[:1]  # the pre-norm arm ran; its partner has not
    space = Space({"norm_position": ["pre", "post"], "dataset_fraction": [0.1]})
    planner = OfflinePlanner(max_seeds=5)
    finish = planner.propose([p], assess_all([p], records), records, space)
    assert finish.runs[0]["norm_position"] == "post" and finish.runs[0]["seed"] == 0
    later = planner.propose([p], assess_all([p], records), records, space, pending=tuple(finish.runs))
    assert later is None or all(run_key(r) != run_key(finish.runs[0]) for r in later.runs)


def test_slots_split_cores_and_give_each_worker_a_gpu():
    assert Slots.plan(1, cpus=8).config(0) == {}
    two = Slots.plan(2, device="cpu", cpus=8)
    assert (two.n, two.config(1)) == (2, {"threads": 4})
    gpus = Slots.plan("auto", device="auto", cpus=16, gpus=["0", "1", "2", "3"])
    assert gpus.n == 4 and [gpus.config(i)["cuda_devices"] for i in range(4)] == ["0", "1", "2", "3"]
    assert Slots.plan(2, device="auto", cpus=16, gpus=["5"]).config(1)["cuda_devices"] == "5"
    assert Slots.plan("auto", device="cpu", cpus=2, gpus=[]).n == 1
    assert Slots.plan("auto", device="cpu", cpus=64, gpus=[]).n == 8
    assert parse_workers("auto") == "auto" and parse_workers("3") == 3
    for bad in ("0", "-1", "many"):
        with pytest.raises(ValueError, match="--workers"):
            parse_workers(bad)


def test_a_bad_workers_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        loop.parse_args(["--hypothesis", "h.yaml", "--workers", "0"])
    assert e.value.code == 2 and "--workers must be at least 1" in capsys.readouterr().err


class SlowSim:
    """The simulator, but each run takes a moment and notes how many ran at once."""

    name = "slow-sim"

    def __init__(self, inner):
        self.inner, self.lock, self.now, self.most = inner, threading.Lock(), 0, 0

    def run(self, config, paths, timeout_s):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.2)
        try:
            return self.inner.run(config, paths, timeout_s)
        finally:
            with self.lock:
                self.now -= 1

    def close(self):
        pass


def test_two_workers_overlap_and_the_log_replays_to_the_same_study(tmp_path):
    from executor.sim import SimExecutor
    from parser.sim_truth import load_truth
    from trajectory.study import open_study

    args = loop.parse_args(SIM + ["--max-experiments", "8", "--workers", "2", "--out", str(tmp_path / "run")])
    hypothesis = load_hypothesis(args.hypothesis)
    study = loop.open_from_args(args)
    executor = SlowSim(SimExecutor(load_truth(ROOT / "examples" / "sim_truth.yaml")))
    options = loop.LoopOptions.from_args(args, Slots.plan(2, device="cpu", cpus=2))
    reason = loop.research(study, OfflinePlanner(max_seeds=10), executor, options)
    assert executor.most == 2
    assert len(study.records) == 8 and "budget" in reason
    ids = [r.experiment_id for r in study.records]
    assert len(set(ids)) == 8
    threads = {r.config["threads"] for r in study.records}
    assert threads == {1}
    live = {k: (v.status, v.confidence) for k, v in study.verdicts.items()}
    study.close()
    again = open_study(tmp_path / "run", hypothesis, Space(search_space(hypothesis)), "", resume=True)
    assert {k: (v.status, v.confidence) for k, v in again.verdicts.items()} == live
    assert [r.experiment_id for r in again.records] == ids
    again.close()


def test_ids_continue_after_the_highest_logged_one(tmp_path):
    """Runs finish out of order: the next id follows the highest, not the count."""
    run_dir = tmp_path / "run"
    assert loop.main(SIM + ["--max-experiments", "4", "--out", str(run_dir)]) == 0
    lines = (run_dir / log.LOG_NAME).read_text().splitlines()
    records = [json.loads(line) for line in lines if json.loads(line).get("experiment_id")]
    assert records[-1]["experiment_id"] == "exp_0004"
    # drop exp_0003 as if it had been in flight when the loop was killed
    kept = [line for line in lines
            if json.loads(line).get("experiment_id", "exp_0003") != "exp_0003"]  # the stop record goes too
    (run_dir / log.LOG_NAME).write_text("\n".join(kept) + "\n")
    assert loop.main(["--resume", str(run_dir), "--max-experiments", "6", "--quiet", "--executor", "sim",
                      "--sim", str(ROOT / "examples" / "sim_truth.yaml")]) == 0
    ids = [r.experiment_id for r in log.experiments(log.replay(run_dir / log.LOG_NAME))]
    assert ids[:3] == ["exp_0001", "exp_0002", "exp_0004"] and "exp_0003" not in ids
    assert len(ids) == len(set(ids)) == 6


def test_the_ray_backend_without_ray_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    code = loop.main(["--hypothesis", str(ROOT / "examples" / "quickstart.yaml"), "--executor", "ray",
                      "--out", str(tmp_path / "run")])
    assert code == 2 and "pip install ray" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
