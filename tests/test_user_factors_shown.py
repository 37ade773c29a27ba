"""User factors and metrics appear wherever built-in ones do: the LLM's prompt, the reports,
the trackers, and the simulator's world."""
import json
import subprocess
import sys
from pathlib import Path

import yaml

from run_config import TrainConfig, to_dict
from parser.checker.verdicts import assess_all
from parser.design import config_hash
from parser.schema import Prediction, PredictionSpec, ResultRecord
from planner.prompt import build_messages
from planner.space import Space
from trajectory.trackers import final_metrics

ROOT = Path(__file__).resolve().parent.parent
P1 = Prediction(id="p1", text="val_acc higher with adamw vs sgd", compiled_by="structured",
                spec=PredictionSpec(metric="val_acc", direction="higher", factor="opt", arm="adamw", baseline="sgd"))


def run(eid: str, opt: str, seed: int, acc: float) -> ResultRecord:
    config = to_dict(TrainConfig(experiment_id=eid, model="my_mlp", seed=seed, user_factors={"opt": opt}))
    return ResultRecord(experiment_id=eid, hypothesis_id="H1", config=config, config_hash=config_hash(config),
                        seed=seed, status="completed", metrics={"final_val_loss": 1.0, "val_acc": acc})


def test_the_llm_planner_prompt_shows_user_factors_and_the_metric_a_prediction_reads():
    records = [run("exp_0001", "adamw", 0, 0.91), run("exp_0002", "sgd", 0, 0.62)]
    space = Space({"model": ["my_mlp"], "opt": ["adamw", "sgd"]})
    text = build_messages("c", [P1], assess_all([P1], records), records, [], space)[1]["content"]
    assert 'opt in ["adamw", "sgd"]' in text
    assert "(id: factors, seed, status, final_val_loss, val_acc)" in text
    assert "exp_0001: opt=adamw, seed 0, completed, 1, 0.91" in text


def test_trackers_log_every_number_the_users_script_reported():
    assert final_metrics(run("exp_0001", "adamw", 0, 0.91)) == {"final_val_loss": 1.0, "val_acc": 0.91}


TRUTH = {"curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3000},
         "factors": ["opt"], "effects": [{"on": "floor", "factor": "opt", "levels": {"adamw": -0.2}}],
         "noise": {"floor_arm": 0.005}}
STUDY = {"hypothesis": {"claim": "adamw ends lower", "predictions": ["val loss 10% lower with adamw vs sgd"],
                        "initial_config": {"model": "my_mlp", "dataset": "my_data", "opt": ["adamw", "sgd"],
                                           "max_steps": 300}}}


def test_the_simulator_runs_a_study_over_a_user_factor_and_the_reports_show_it(tmp_path):
    (tmp_path / "truth.yaml").write_text(yaml.safe_dump(TRUTH))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(tmp_path / "study.yaml"),
                           "--executor", "sim", "--sim", str(tmp_path / "truth.yaml"), "--max-experiments", "10",
                           "--out", str(run_dir), "--quiet"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    graph = json.loads((run_dir / "trajectory.json").read_text())
    assert graph["predictions"][0]["status"] == "confirmed"
    assert {e["factors"]["opt"] for e in graph["experiments"]} == {"adamw", "sgd"}
    report = (run_dir / "report.md").read_text()
    assert "opt=adamw" in report and "opt=sgd" in report
    assert '"opt"' in (run_dir / "dashboard.html").read_text()
