"""End to end: a study that varies an architecture flag trains both arms for real (CPU)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import models
from run_config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent

NORM_TYPE_STUDY = """
hypothesis:
  claim: "RMSNorm trains as well as LayerNorm on a tiny synthetic language"
  predictions:
    - "Final val loss 2% lower with rmsnorm vs layernorm"
  initial_config:
    model: transformer_tiny
    dataset: synthetic
    norm_type: [layernorm, rmsnorm]
    learning_rate: 3e-3
    seq_len: 32
    batch_size: 8
    max_steps: 40
    eval_interval: 10
    eval_batches: 2
"""


def loop(*args):
    return subprocess.run([sys.executable, str(ROOT / "loop.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def experiments(run_dir):
    lines = (run_dir / "research_log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, filter(str.strip, lines)) if r.get("record") == "experiment"]


@pytest.mark.slow
def test_a_norm_type_study_trains_a_layernorm_and_an_rmsnorm_arm_on_the_same_seed(tmp_path):
    (tmp_path / "norm.yaml").write_text(NORM_TYPE_STUDY)
    run_dir = tmp_path / "run"
    done = loop("--hypothesis", tmp_path / "norm.yaml", "--max-experiments", 2, "--out", run_dir)
    assert done.returncode == 0, done.stderr
    exps = experiments(run_dir)
    assert [e["status"] for e in exps] == ["completed", "completed"]
    by_arm = {e["config"]["norm_type"]: e for e in exps}
    assert set(by_arm) == {"layernorm", "rmsnorm"}
    assert exps[0]["seed"] == exps[1]["seed"]
    for arm, e in by_arm.items():
        assert e["metrics"]["n_params"] == models.n_params(TrainConfig(model="transformer_tiny", seq_len=32, norm_type=arm), 16)
        assert e["metrics"]["final_val_loss"] < e["metrics"]["val_curve"][0][1]
    assert by_arm["layernorm"]["metrics"]["val_curve"] != by_arm["rmsnorm"]["metrics"]["val_curve"]
    graph = json.loads((run_dir / "trajectory.json").read_text())
    (prediction,) = graph["predictions"]
    assert prediction["spec"]["factor"] == "norm_type"
    assert (prediction["spec"]["arm"], prediction["spec"]["baseline"]) == ("rmsnorm", "layernorm")
    assert len(prediction["history"]) == 2
    config_file = run_dir / "configs" / f"{by_arm['rmsnorm']['experiment_id']}.py"
    assert "norm_type: str = 'rmsnorm'" in config_file.read_text()


def test_a_bad_flag_value_in_a_hypothesis_exits_2_naming_it_and_writes_nothing(tmp_path):
    (tmp_path / "bad.yaml").write_text(NORM_TYPE_STUDY.replace("[layernorm, rmsnorm]", "[layernorm, batchnorm]"))
    done = loop("--hypothesis", tmp_path / "bad.yaml", "--out", tmp_path / "run")
    assert done.returncode == 2
    assert "norm_type" in done.stderr and "'batchnorm' is not one of" in done.stderr
    assert not (tmp_path / "run").exists()
