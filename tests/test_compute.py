"""Compute accounting: each record's training seconds and steps, the study's total, the grid walk's."""
from pathlib import Path

import pytest

import loop
from parser.metrics import compute as record_compute
from planner.space import Space
from tests.records import record
from trajectory.compute import grid_walk, spent, summary

ROOT = Path(__file__).resolve().parent.parent
GRID = {"model": ["transformer_tiny"], "norm_position": ["pre", "post"], "learning_rate": [1e-4, 3e-4],
        "dataset_fraction": [0.1, 1.0], "max_steps": [200]}


def _run(eid, seconds, steps, early=False, status="completed"):
    r = record(eid, "pre", 0, status=status)
    return r.model_copy(update={"train_time_s": seconds, "steps": steps, "stopped_early": early,
                                "config": dict(r.config, max_steps=200)})


def test_a_record_takes_its_seconds_and_steps_from_its_metrics_and_knows_an_early_stop():
    assert record_compute({"train_time_s": 4.0, "steps": 120, "val_curve": [[0, 5], [120, 2]]},
                          {"max_steps": 300}, 5.0) == {"train_time_s": 4.0, "steps": 120, "stopped_early": True}
    # a command script that reports neither: the wall time and the curve's last step
    assert record_compute({"val_curve": [[0, 5], [300, 2]]}, {"max_steps": 300}, 5.0) == \
        {"train_time_s": 5.0, "steps": 300, "stopped_early": False}
    assert record_compute(None, {"max_steps": 300}, 1.5) == {"train_time_s": 1.5, "steps": None,
                                                             "stopped_early": False}


def test_the_study_total_counts_every_run_and_its_early_stops():
    total = spent([_run("a", 2.0, 200), _run("b", 1.0, 100, early=True), _run("c", 0.5, None, status="failed")])
    assert (total.seconds, total.steps, total.runs, total.stopped_early) == (3.5, 300, 3, 1)


def test_the_grid_walk_is_every_point_at_three_seeds_run_in_full_at_the_studys_seconds_per_step():
    walk = grid_walk([_run("a", 2.0, 200), _run("b", 1.0, 100, early=True)], Space(GRID))
    assert walk.runs == 3 * 8 and walk.steps == 3 * 8 * 200
    assert walk.seconds == pytest.approx(3 * 8 * 200 * 0.01)
    found = summary([_run("a", 2.0, 200), _run("b", 1.0, 100, early=True)], Space(GRID))
    assert found["ratio"] == pytest.approx(3.0 / 48.0, rel=1e-3) and "grid walk (24 runs)" in found["text"]


def test_the_loops_last_line_gives_the_compute_and_the_walks(tmp_path, capsys):
    code = loop.main(["--hypothesis", str(ROOT / "examples" / "quickstart.yaml"), "--executor", "sim",
                      "--sim", str(ROOT / "examples" / "sim_truth.yaml"), "--max-experiments", "4",
                      "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("compute: ") and "the full 3-seed grid walk (24 runs)" in last


# --- what a study will cost, said before the user waits -------------------------------------

def test_gpu_sized_runs_are_named_with_the_flags_that_rehearse_them_smaller():
    from trajectory.compute import rehearsal
    headline = Space({"norm_position": ["pre", "post"], "max_steps": [1000], "seq_len": [256], "batch_size": [32]})
    assert "--set max_steps=100 --set seq_len=64" in rehearsal(headline)
    assert rehearsal(Space({"norm_position": ["pre", "post"], "max_steps": [300], "seq_len": [64],
                            "batch_size": [16]})) == ""  # the quickstart: minutes, not hours


def test_the_upfront_cost_is_one_timed_step_times_the_steps_and_evaluations_of_every_run():
    from trajectory.compute import upfront_text
    point = {"max_steps": 1000, "eval_interval": 50, "eval_batches": 3}  # 20 evals of 3 forwards = 20 steps
    text = upfront_text(0.3, point, budget=20, workers=2)
    assert "~51.0 min for 20 runs of up to ~5.1 min" in text and "2 at a time" in text
    assert upfront_text(None, point, 20) == "the first run will say what the study costs"


def test_the_time_left_is_the_median_run_times_the_runs_the_budget_still_allows():
    from trajectory.compute import cost_text, left_text
    runs = [_run("exp_0001", 10, 200).model_copy(update={"wall_time_s": 60.0}),
            _run("exp_0002", 10, 200).model_copy(update={"wall_time_s": 120.0}),
            _run("exp_0003", 10, 200).model_copy(update={"wall_time_s": 90.0})]
    assert left_text(runs, budget=5, workers=1) == "~3.0 min left at most"  # 2 runs of 90 s
    assert left_text(runs, budget=3) == ""
    assert cost_text(runs, budget=5, workers=2).startswith("cost: ~1.5 min for the 2 runs left at most")
    assert cost_text([], budget=5) is None


def test_the_first_finished_run_says_what_the_study_will_cost(tmp_path, capsys):
    assert loop.main(["--hypothesis", str(ROOT / "examples" / "quickstart.yaml"), "--executor", "sim", "--sim",
                      str(ROOT / "examples" / "sim_truth.yaml"), "--max-experiments", "4",
                      "--out", str(tmp_path / "run")]) == 0
    said = capsys.readouterr().out
    assert said.count("cost: ~") == 1 and "for the 3 runs left at most" in said
