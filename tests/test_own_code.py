"""The user's own training script (command backend, and the same contract as Ray tasks):
every factor reaches it, every finite number it reports is a metric a prediction may use."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import run_config
from executor.base import RunPaths
from executor.command import CommandExecutor
from parser.metrics import to_record

ROOT = Path(__file__).resolve().parent.parent

# Echoes the config it was given and reports a custom metric (and one that is not finite).
ECHO = """
import json, os
config = json.load(open(os.environ["RESEARCH_CONFIG"]))
acc = 0.5 + (0.2 if config["opt"] == "adamw" else 0.0) + 0.01 * config["seed"]
json.dump({"final_val_loss": 1.0, "val_acc": acc, "broken": float("nan"), "seen": config},
          open(os.environ["RESEARCH_METRICS"], "w"))
"""

OWN_STUDY = """
hypothesis:
  claim: "adamw trains my model to a higher accuracy than sgd"
  metrics: [val_acc, val_f1]
  predictions:
    - "val_acc 5% higher with opt adamw vs opt sgd"
    - "val_f1 higher with opt adamw vs opt sgd"
  initial_config:
    model: my_mlp
    dataset: my_blobs
    opt: [adamw, sgd]
    width: 32
"""


def config_with_user_factors(paths: RunPaths) -> run_config.TrainConfig:
    return run_config.from_dict({"experiment_id": "exp_0001", "model": "my_mlp", "dataset": "my_blobs",
                          "metrics_path": str(paths.metrics("exp_0001")), "opt": "adamw", "width": 32,
                          "note": "it's \"quoted\"\n$(rm -rf /)", "declared": "model,dataset,opt,width,note"})


def echo_run(tmp_path):
    """One run of ECHO through the command backend: (result, paths, config)."""
    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    paths = RunPaths.under(tmp_path / "run")
    config = config_with_user_factors(paths)
    return CommandExecutor(f"{sys.executable} {script}").run(config, paths, 60), paths, config


def test_the_script_gets_every_factor_flat_in_its_config_json_and_none_of_the_built_in_defaults(tmp_path):
    result, paths, _ = echo_run(tmp_path)
    assert result.status == "completed", result.error
    seen = json.loads(paths.metrics("exp_0001").read_text())["seen"]
    assert (seen["model"], seen["dataset"], seen["opt"], seen["width"]) == ("my_mlp", "my_blobs", "adamw", 32)
    assert seen["note"] == "it's \"quoted\"\n$(rm -rf /)"
    assert "learning_rate" not in seen and "max_steps" not in seen and "device" not in seen
    assert seen["seed"] == 0 and seen["experiment_id"] == "exp_0001"


def test_every_finite_number_the_script_reports_is_kept_and_a_non_finite_one_is_null(tmp_path):
    result, _, config = echo_run(tmp_path)
    record = to_record(result, run_config.handed(config), {}, "")
    assert record.metrics["val_acc"] == pytest.approx(0.7) and record.metrics["broken"] is None
    assert record.config["opt"] == "adamw" and record.config["width"] == 32


def own_study(tmp_path, text: str, budget: int) -> None:
    """The loop on ECHO through the command backend, the study in `text`; run dir tmp_path/run."""
    script, study = tmp_path / "echo.py", tmp_path / "own.yaml"
    script.write_text(ECHO)
    study.write_text(text)
    done = subprocess.run([sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(study), "--executor",
                           "command", "--command", f"{sys.executable} {script}", "--max-experiments", str(budget),
                           "--out", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_a_study_on_the_users_script_decides_on_its_metric_and_finds_an_unreported_one_untestable(tmp_path):
    own_study(tmp_path, OWN_STUDY, 8)
    graph = json.loads((tmp_path / "run" / "trajectory.json").read_text())
    p1, p2 = graph["predictions"]
    assert (p1["spec"]["metric"], p1["status"]) == ("val_acc", "confirmed")
    assert p2["status"] == "untestable" and "no run reports 'val_f1'" in p2["reason"]
    assert "val_acc" in p2["reason"]  # says what the runs do report
    header = next(line for line in (tmp_path / "run" / "report.md").read_text().splitlines() if "final val loss" in line)
    assert "val_acc" in header and "val_f1" in header  # a column for each metric the study reads


def test_the_ray_backend_runs_the_users_command_with_the_same_contract(ray_instance, tmp_path):
    from executor.ray_backend import RayExecutor

    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    executor = RayExecutor(script=f"{sys.executable} {script}")
    paths = RunPaths.under(tmp_path / "run")
    result = executor.run(config_with_user_factors(paths), paths, 3600)  # not about time: no slow machine cuts it short
    executor.close()
    assert result.status == "completed", (result.error, result.stderr_tail)
    metrics = json.loads(paths.metrics("exp_0001").read_text())
    assert metrics["val_acc"] == pytest.approx(0.7) and metrics["seen"]["opt"] == "adamw"


def test_a_range_of_a_factor_of_your_own_reaches_the_script_as_its_starting_values(tmp_path):
    """`width: {low: 8, high: 64, log: true, points: 4}`: integers, log-spaced, passed through."""
    own_study(tmp_path, OWN_STUDY.replace("width: 32", "width: {low: 8, high: 64, log: true, points: 4}"), 4)
    graph = json.loads((tmp_path / "run" / "trajectory.json").read_text())
    assert graph["hypotheses"][0]["initial_config"]["width"] == [8, 16, 32, 64]
    runs = [json.loads(line) for line in (tmp_path / "run" / "research_log.jsonl").read_text().splitlines()]
    widths = [r["config"]["width"] for r in runs if "config" in r]
    assert len(widths) == 4 and all(type(w) is int and w in (8, 16, 32, 64) for w in widths)
    seen = json.loads((tmp_path / "run" / "metrics" / "exp_0001.json").read_text())["seen"]
    assert seen["width"] == widths[0]  # what the script read
