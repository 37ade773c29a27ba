"""Experiment trackers: a finished simulated study replayed into wandb (offline) and mlflow (file store)."""
import argparse
import builtins
import glob
import importlib.util
import struct

import pytest

from parser import log
from parser.hypothesis import load_hypothesis, search_space
from planner.space import Space
from tests.sim_study import finished_study
from trajectory.study import Study
from trajectory.trackers import (MlflowTracker, Tracker, TrackerUnavailable, Trackers, WandbTracker,
                                 add_arguments, make_trackers)

needs_wandb = pytest.mark.skipif(importlib.util.find_spec("wandb") is None,
                                 reason="wandb is not installed (pip install wandb)")
needs_mlflow = pytest.mark.skipif(importlib.util.find_spec("mlflow") is None,
                                  reason="mlflow is not installed (pip install mlflow-skinny)")


def replay_into(tracker, tmp_path):
    """Feed a finished study to the tracker the way the loop does: record, then verdicts."""
    run_dir = finished_study()
    hypothesis = load_hypothesis(run_dir / "hypothesis.yaml", [])
    study = Study(tmp_path / "replay", hypothesis, Space(search_space(hypothesis)))
    study.refresh()
    records = log.experiments(log.replay(run_dir / log.LOG_NAME))
    tracker.start("quickstart", hypothesis.model_dump(), tmp_path)
    for i, record in enumerate(records, start=1):
        study.apply(record)
        tracker.log_run(record, i)
        tracker.log_confidences(i, study.verdicts)
    tracker.finish("experiment budget spent")
    return records, study


def read_wandb_records(path):
    """The protobuf records of an offline .wandb file (a LevelDB-style log of 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2 as pb
    data, pos, chunk, out = open(path, "rb").read(), 7, b"", []  # 7: ':W&B', magic, version
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = chunk + data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind in (1, 4):  # FULL or LAST
            out.append(pb.Record.FromString(chunk))
            chunk = b""
    return out


@needs_wandb
def test_wandb_offline_run_holds_each_curve_and_the_confidences(tmp_path, monkeypatch):
    for name, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true"}.items():
        monkeypatch.setenv(name, value)
    records, study = replay_into(WandbTracker(), tmp_path)
    [path] = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    history = [{i.key or "/".join(i.nested_key): i.value_json for i in r.history.item}
               for r in read_wandb_records(path) if r.WhichOneof("record_type") == "history"]
    first = records[0]
    curve = [(float(h[f"{first.experiment_id}/step"]), float(h[f"{first.experiment_id}/val_loss"]))
             for h in history if f"{first.experiment_id}/val_loss" in h]
    assert curve == [tuple(map(float, p)) for p in first.metrics["val_curve"]]
    confidences = [h for h in history if "confidence/p1" in h]
    assert float(confidences[-1]["confidence/p1"]) == pytest.approx(study.verdicts["p1"].confidence)
    # the table of final metrics: its file (the history record of it may still be in
    # wandb's write buffer when finish() returns, so it isn't read back)
    assert glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "files" / "media" / "table" / "*.json"))


@needs_mlflow
def test_mlflow_holds_one_parent_and_a_nested_run_per_experiment(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    records, study = replay_into(MlflowTracker(), tmp_path)
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=f"file:{tmp_path / 'mlruns'}")
    runs = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert sorted(children) == [r.experiment_id for r in records]
    first = children[records[0].experiment_id]
    assert first.data.params["norm_position"] == str(records[0].config["norm_position"])
    assert first.data.params["seed"] == str(records[0].seed)
    assert first.data.metrics["final_val_loss"] == pytest.approx(records[0].metrics["final_val_loss"])
    assert first.data.tags["status"] == records[0].status
    curve = client.get_metric_history(first.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in curve] == [(int(s), pytest.approx(v)) for s, v in records[0].metrics["val_curve"]]
    assert parent.data.metrics["confidence/p1"] == pytest.approx(study.verdicts["p1"].confidence)
    assert parent.data.tags["stop_reason"] == "experiment budget spent"


@pytest.mark.parametrize("flag, package", [("--wandb", "wandb"), ("--mlflow", "mlflow")])
def test_a_missing_package_names_what_to_install(flag, package, monkeypatch):
    real_import = builtins.__import__

    def no_tracker(name, *args, **kwargs):
        if name.split(".")[0] == package:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tracker)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(TrackerUnavailable, match=f"^{flag} needs the {package} package: pip install {package}$"):
        make_trackers(parser.parse_args([flag]))


def test_no_flags_means_no_trackers():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert make_trackers(parser.parse_args([])) == []


class Broken:
    def log_run(self, record, step_index):
        raise ConnectionError("quota exceeded")


def test_a_failing_tracker_is_dropped_with_a_warning_and_the_study_goes_on(capsys):
    trackers = Trackers([Broken()])
    trackers.log_run(object(), 1)
    trackers.log_run(object(), 2)
    assert trackers == []
    assert capsys.readouterr().err.count("Broken failed (quota exceeded)") == 1


@pytest.mark.parametrize("cls", [WandbTracker, MlflowTracker])
def test_each_tracker_is_a_tracker(cls):
    assert all(callable(getattr(cls, m, None)) for m in ("start", "log_run", "log_confidences", "finish"))
    assert issubclass(cls, Tracker)
