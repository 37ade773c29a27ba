"""Runs stop once the rest of their curve can change no score a prediction uses."""
import contextlib
import io
import sys
from pathlib import Path

import pytest

import loop
from run_config import to_dict as cfg_to_dict
from executor.base import RunPaths
from executor.command import CommandExecutor
from run_config import TrainConfig, is_factor
from executor.sim import SimExecutor
from parser.checker import scoring
from parser.checker.early_stop import stop_target
from parser.metrics import to_record
from parser.sim_truth import load_truth
from planner.base import Proposal
from tests.records import comparison, interaction, record

ROOT = Path(__file__).resolve().parent.parent
FAST = [[0, 5.0], [10, 2.0], [20, 1.0], [30, 1.0]]
SLOW = [[0, 5.0], [10, 4.5], [20, 3.0], [30, 1.0]]
POINT = {"norm_position": "pre", "dataset_fraction": 0.1, "learning_rate": 3e-4, "seed": 1}


def _first_pair():
    return [record("exp_0001", "pre", 0, 1.0, curve=FAST), record("exp_0002", "post", 0, 1.0, curve=SLOW)]


def test_a_cells_first_pair_trains_in_full_and_sets_the_target_of_the_runs_after_it():
    speed = comparison(metric="steps_to_target", threshold=0.2)
    assert stop_target([speed], [], POINT) is None
    assert stop_target([speed], _first_pair(), POINT) == pytest.approx(scoring.pair_target(FAST, SLOW))
    assert stop_target([speed], _first_pair(), dict(POINT, dataset_fraction=1.0)) is None  # another cell


def test_a_run_another_prediction_reads_in_full_is_never_stopped():
    speed = comparison(metric="steps_to_target", threshold=0.2)
    loss = comparison("p2", metric="final_val_loss")
    assert stop_target([speed, loss], _first_pair(), POINT) is None
    from parser.schema import Condition
    by_loss = interaction(condition=Condition(variable="best_val_loss", op="<", value=1.5))
    assert stop_target([speed, by_loss], _first_pair(), POINT) is None  # its region moves with the curve


def test_later_pairs_are_scored_against_the_cells_fixed_target_not_their_own():
    later = [[0, 5.0], [10, 3.0], [20, 1.2]]  # stopped at the cell's target: its own would be lower
    records = _first_pair() + [record("exp_0003", "pre", 1, 1.2, curve=later),
                               record("exp_0004", "post", 1, 1.0, curve=SLOW[:-1] + [[30, 1.01]])]
    from parser.checker.pairs import benefits
    spec = comparison(metric="steps_to_target").spec
    target = scoring.pair_target(FAST, SLOW)
    expected = scoring.steps_to_target(later, SLOW[:-1] + [[30, 1.01]], target)
    assert benefits(spec, records)[1].score == pytest.approx(scoring.benefit(*expected, "lower", True))
    assert scoring.steps_to_target(later, SLOW) != expected


class Replay:
    """The planner that proposes the runs of another study, one by one, in its order."""
    name = "replay"

    def __init__(self, records):
        self.points = [{k: v for k, v in r.config.items() if is_factor(k)} for r in records]

    def propose(self, predictions, verdicts, records, space, pending=(), indexes=None):
        if len(records) >= len(self.points):
            return None
        return Proposal([self.points[len(records)]], [predictions[0].id], "the other study's next run", self.name)


def _study(tmp_path, name, disable_stops=False, monkeypatch=None, hypothesis=None, runs=14, replay=None):
    """The quickstart (or `hypothesis`) on the simulator, the offline planner choosing, or the runs of
    `replay` in their order (the planner weighs what a run costs, and a run that stops is cheaper:
    the same runs, stopped or not, are the comparison)."""
    hypothesis = hypothesis or ROOT / "examples" / "quickstart.yaml"
    args = loop.parse_args(["--hypothesis", str(hypothesis), "--executor", "sim",
                            "--max-experiments", str(runs), "--out", str(tmp_path / name)])
    study = loop.open_from_args(args)
    if disable_stops:
        monkeypatch.setattr(type(study), "stop_target", lambda self, point: None)
    planner = Replay(replay) if replay is not None else loop.OfflinePlanner(args.max_seeds, args.seed,
                                                                            args.max_experiments)
    with contextlib.redirect_stdout(io.StringIO()):
        loop.research(study, planner, SimExecutor(load_truth(ROOT / "examples" / "sim_truth.yaml")),
                      loop.LoopOptions.from_args(args))
    return study


def test_stopping_at_the_target_changes_no_verdict_and_saves_compute(tmp_path, monkeypatch):
    stopped = _study(tmp_path, "stopped")
    with monkeypatch.context() as m:
        full = _study(tmp_path, "full", disable_stops=True, monkeypatch=m, replay=stopped.records)
    assert [r.config_hash for r in stopped.records] == [r.config_hash for r in full.records]
    for pid, v in full.verdicts.items():
        assert stopped.verdicts[pid].confidence == pytest.approx(v.confidence, rel=1e-12)
    early = [r for r in stopped.records if r.stopped_early]
    assert early and all(r.steps < r.config["max_steps"] for r in early)
    assert sum(r.steps for r in stopped.records) < sum(r.steps for r in full.records)


WRITTEN = "Reaches val loss 2.5 20% sooner with pre-norm vs post-norm at N < 1000 samples"


def test_with_a_written_target_the_study_stops_every_run_from_the_first_pair_on_and_decides_the_same(
        tmp_path, monkeypatch):
    quickstart = (ROOT / "examples" / "quickstart.yaml").read_text()
    hypothesis = tmp_path / "written.yaml"
    hypothesis.write_text(quickstart.replace(
        "Val loss converges 20% faster with pre-norm vs post-norm at N < 1000 samples", WRITTEN))
    stopped = _study(tmp_path, "stopped", hypothesis=hypothesis, runs=6)
    with monkeypatch.context() as m:
        full = _study(tmp_path, "full", disable_stops=True, monkeypatch=m, hypothesis=hypothesis, runs=6,
                      replay=stopped.records)
    assert stopped.hypothesis.predictions[0].spec.target == 2.5
    first = stopped.records[:2]
    assert [r.config["stop_at_loss"] for r in first] == [2.5, 2.5]
    assert all(r.stopped_early and r.steps < r.config["max_steps"] for r in first)
    assert all(r.stopped_early for r in stopped.records)  # p2 reads p1's pairs, at p1's target
    # each pair scores what its full curves give at 2.5, so the verdicts are the full study's
    assert [r.config_hash for r in stopped.records] == [r.config_hash for r in full.records]
    for pid, v in full.verdicts.items():
        assert (stopped.verdicts[pid].status, stopped.verdicts[pid].n_pairs) == (v.status, v.n_pairs)
        assert stopped.verdicts[pid].confidence == (None if v.confidence is None else
                                                    pytest.approx(v.confidence, rel=1e-12))
    assert 0.1 < stopped.verdicts["p1"].effect < 0.4  # the sim's pre-norm is 20-30% faster there (log post/pre)
    assert sum(r.steps for r in stopped.records) < 0.5 * sum(r.steps for r in full.records)
    tree = stopped.stop("experiment budget spent", "2026-01-01T00:00:00+00:00")
    stopped.close()
    assert "= steps to val loss 2.5 [pre] / steps to val loss 2.5 [post] < 0.8" in tree
    assert "found: pre/post steps to val loss 2.5: " in tree
    assert "Exp 0001+0002: learning_rate=0.001, dataset_fraction=0.1, seed=0: pre vs post 0.82× " \
           "(stopped at target" in tree


SCRIPT = """
import json, os, sys, time
config = json.load(open(os.environ["RESEARCH_CONFIG"]))
curve = []
for step in range(0, 101, 10):
    curve.append([step, 5.0 - step / 25])
    with open(os.environ["RESEARCH_PROGRESS"], "a") as f:
        f.write(json.dumps({"step": step, "val_loss": curve[-1][1]}) + "\\n")
    waited = 0.0  # at the crossing, give the loop time to answer (a real run trains on meanwhile)
    while step == 50 and not os.path.exists(os.environ["RESEARCH_STOP"]) and waited < 3:
        time.sleep(0.01)
        waited += 0.01
    if os.path.exists(os.environ["RESEARCH_STOP"]):
        break
json.dump({"final_val_loss": curve[-1][1], "val_curve": curve}, open(os.environ["RESEARCH_METRICS"], "w"))
"""


@pytest.mark.parametrize("target, steps", [(3.0, 50), (None, 100)])
def test_the_command_backend_creates_the_stop_file_once_progress_reaches_the_target(tmp_path, target, steps):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    paths = RunPaths.under(tmp_path / "run")
    config = TrainConfig(experiment_id="exp_0001", max_steps=100, stop_at_loss=target,
                         metrics_path=str(paths.metrics("exp_0001")))
    result = CommandExecutor(f"{sys.executable} {script}").run(config, paths, 60)
    rec = to_record(result, cfg_to_dict(config), {}, "")
    assert rec.status == "completed" and rec.steps == steps
    assert rec.stopped_early is (target is not None)


def test_a_written_target_stops_even_a_cells_first_pair():
    written = comparison(metric="steps_to_target", threshold=0.2, target=2.5)
    assert stop_target([written], [], POINT) == 2.5  # nothing run yet: the target is in the prediction
    assert stop_target([written], _first_pair(), dict(POINT, dataset_fraction=1.0)) == 2.5  # any cell
    by_n = interaction(metric="steps_to_target", target=2.5)  # inherits it; its condition is on N
    assert stop_target([written, by_n], [], POINT) == 2.5


def test_the_lowest_target_wins_and_a_cell_without_one_still_trains_its_first_pair_in_full():
    written = comparison(metric="steps_to_target", target=2.5)
    lower = comparison("p2", metric="steps_to_target", target=1.5)
    cells = comparison("p3", metric="steps_to_target")  # no target written
    assert stop_target([written, lower], [], POINT) == 1.5
    assert stop_target([written, cells], [], POINT) is None
    assert stop_target([written, cells], _first_pair(), POINT) == pytest.approx(
        min(2.5, scoring.pair_target(FAST, SLOW)))
    assert stop_target([written, comparison("p2", metric="final_val_loss")], [], POINT) is None


def test_a_bad_written_target_exits_2_naming_file_field_and_value_before_any_run(tmp_path, capsys):
    quickstart = (ROOT / "examples" / "quickstart.yaml").read_text()
    hypothesis = tmp_path / "bad.yaml"
    hypothesis.write_text(quickstart.replace(
        '- "Val loss converges 20% faster with pre-norm vs post-norm at N < 1000 samples"',
        "- {spec: {metric: steps_to_target, factor: norm_position, arm: pre, baseline: post, target: .nan}}"))
    code = loop.main(["--hypothesis", str(hypothesis), "--executor", "sim", "--sim",
                      str(ROOT / "examples" / "sim_truth.yaml"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "run").exists()
    assert f"{hypothesis}: hypothesis.predictions[0].spec.target:" in err and "nan" in err
