"""The simulated backend: a known response surface, deterministic seeded noise, the executor contract."""
import math
import statistics
import json
import subprocess
import sys
from pathlib import Path

import pytest

from executor.base import RunPaths
from run_config import TrainConfig
from bench.truth import true_score
from executor.sim import SimExecutor, simulate
from parser.checker import scoring
from parser.hypothesis import load_hypothesis, search_space
from parser.metrics import read_metrics
from parser.sim_truth import SimTruthError, Truth, load_truth
from planner.space import Space

ROOT = Path(__file__).resolve().parent.parent
POINT = dict(model="transformer_tiny", dataset="synthetic", norm_position="pre", learning_rate=1e-3,
             dataset_fraction=0.1, seq_len=64, batch_size=16, max_steps=300, eval_interval=25, seed=0)


def truth(**overrides) -> Truth:
    raw = {"curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3076},
           "effects": [{"on": "tau", "factor": "norm_position", "levels": {"pre": -0.3}}],
           "noise": {"tau_shared": 0.3, "tau_arm": 0.05, "floor_arm": 0.005}}
    return Truth.model_validate(dict(raw, **overrides))


def log_ratio(t: Truth, seed_pre: int, seed_post: int) -> float:
    pre = simulate(t, dict(POINT, norm_position="pre", seed=seed_pre))
    post = simulate(t, dict(POINT, norm_position="post", seed=seed_post))
    a, b = scoring.steps_to_target(pre["val_curve"], post["val_curve"])
    return scoring.benefit(a, b, "lower", True)


def run(executor, tmp_path, timeout=60.0, **overrides):
    paths = RunPaths.under(tmp_path)
    config = TrainConfig(experiment_id="exp_0001", metrics_path=str(paths.metrics("exp_0001")),
                         **dict(POINT, **overrides))
    return executor.run(config, paths, timeout), paths


def test_the_same_config_and_seed_give_identical_metrics():
    assert simulate(truth(), POINT) == simulate(truth(), dict(POINT))


def test_another_seed_gives_other_metrics():
    assert simulate(truth(), POINT)["final_val_loss"] != simulate(truth(), dict(POINT, seed=1))["final_val_loss"]


def test_seed_paired_arms_share_noise_so_their_log_ratio_varies_less_than_unpaired():
    t = truth()
    paired = [log_ratio(t, s, s) for s in range(40)]
    unpaired = [log_ratio(t, s, s + 1000) for s in range(40)]
    assert statistics.variance(paired) < statistics.variance(unpaired) / 4


def test_the_configured_effect_shows_in_the_paired_steps_to_target_ratio_on_average():
    mean = statistics.mean(log_ratio(truth(), s, s) for s in range(60))
    assert mean == pytest.approx(0.3, abs=0.04)  # exp(-0.3): pre needs 26% fewer steps


def test_an_effect_applies_only_where_its_condition_holds():
    effect = {"on": "tau", "factor": "norm_position", "levels": {"pre": -0.3}, "where": "n_train_samples > 1000"}
    t = truth(effects=[effect], noise={})
    assert log_ratio(t, 0, 0) == pytest.approx(0.0)
    big = simulate(t, dict(POINT, dataset_fraction=1.0))
    assert big["n_train_samples"] == 3076 and big["val_curve"] != simulate(t, dict(POINT, dataset_fraction=1.0,
                                                                                 norm_position="post"))["val_curve"]


def test_a_smooth_effect_fades_along_its_variable():
    fade = 0.3 / math.log(3076 / 308)  # from -0.3 at N = 308 (fraction 0.1) to 0 at N = 3076 (1.0)
    effect = {"on": "tau", "factor": "norm_position", "levels": {"pre": -0.3},
              "along": {"variable": "n_train_samples", "at": 308, "per_e_fold": {"pre": fade}}}
    t = truth(effects=[effect], noise={})
    assert log_ratio(t, 0, 0) == pytest.approx(0.3, abs=0.1)  # steps counted at eval points
    full = dict(POINT, dataset_fraction=1.0)
    pre, post = (simulate(t, dict(full, norm_position=arm))["val_curve"] for arm in ("pre", "post"))
    assert [loss for _, loss in pre] == pytest.approx([loss for _, loss in post])
    half = dict(POINT, dataset_fraction=0.3162)  # halfway in log N: half the effect
    a, b = (simulate(t, dict(half, norm_position=arm))["val_curve"] for arm in ("pre", "post"))
    assert a[-1][1] < b[-1][1]


def test_a_smooth_effect_names_a_known_variable():
    effect = {"on": "tau", "factor": "norm_position", "levels": {"pre": -0.3},
              "along": {"variable": "n_samples", "at": 308, "per_e_fold": {"pre": 0.1}}}
    with pytest.raises(ValueError, match="n_samples"):
        truth(effects=[effect])


def test_the_true_score_of_the_quickstart_predictions_comes_from_noise_free_curves():
    h = load_hypothesis(ROOT / "examples" / "quickstart.yaml")
    t = load_truth(ROOT / "examples" / "sim_truth.yaml")
    by_id = {p.id: p for p in h.predictions}
    cells = Space(search_space(h)).cells("norm_position")
    p1, p2 = (true_score(t, p, by_id, cells) for p in h.predictions)
    assert 0.0 < p1 < 0.2  # log ratio ~0.31 against the threshold's log(0.8) = -0.223
    assert p2 > 0.2  # ~0.31 at N = 308 vs ~0.05 at N = 3076


# The shared executor contract runs on the sim backend in tests/test_executor_contract.py.


def test_a_sim_run_reports_the_n_of_its_dataset_fraction(tmp_path):
    result, _ = run(SimExecutor(truth()), tmp_path)
    metrics, _ = read_metrics(result.metrics_path)
    assert metrics["n_train_samples"] == 308 and len(metrics["val_curve"]) == 13


def test_a_truth_file_with_an_unknown_key_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "truth.yaml"
    path.write_text("curve: {initial: 5.0, floor: 2.0, tau: 60}\nnoise: {tau_arm: 0.1, tua_shared: 0.1}\n")
    with pytest.raises(SimTruthError, match=r"truth\.yaml: noise\.tua_shared: unknown key"):
        load_truth(path)


def test_a_truth_file_with_a_bad_value_names_the_field_and_the_value(tmp_path):
    path = tmp_path / "truth.yaml"
    path.write_text("curve: {initial: 5.0, floor: 2.0, tau: -1}\n")
    with pytest.raises(SimTruthError, match=r"truth\.yaml: curve\.tau: .*greater than 0.*-1"):
        load_truth(path)


def test_a_where_clause_on_an_unknown_variable_is_an_error(tmp_path):
    path = tmp_path / "truth.yaml"
    path.write_text("curve: {initial: 5.0, floor: 2.0, tau: 60}\n"
                    "effects: [{on: tau, factor: norm_position, levels: {pre: -0.3}, where: 'n_samples < 5'}]\n")
    with pytest.raises(SimTruthError, match=r"effects\.0\.where.*n_samples"):
        load_truth(path)


def test_the_example_truth_reads_on_as_a_key_and_1e_3_as_a_number():
    t = load_truth(ROOT / "examples" / "sim_truth.yaml")
    assert t.effects[0].on == "tau"
    assert 0.001 in t.effects[2].levels


def test_the_quickstart_runs_on_the_sim_backend_in_seconds(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "loop.py", "--hypothesis", "examples/quickstart.yaml",
                           "--executor", "sim", "--sim", "examples/sim_truth.yaml",
                           "--max-experiments", "12", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (out / "research_log.jsonl").exists() and (out / "trajectory.json").exists()
    lines = [json.loads(line) for line in (out / "research_log.jsonl").read_text().splitlines()]
    stop = lines[-1]  # every run it made is logged, then why it stopped
    assert stop["record"] == "stop" and stop["n_experiments"] == sum(r["record"] == "experiment" for r in lines) >= 8
