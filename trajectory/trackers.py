"""Optional experiment trackers: mirror a study into wandb or mlflow as it runs.

The log stays the truth; a tracker is a view. `--wandb` opens one wandb run per
study session, `--mlflow` a parent run per session with one nested run per
experiment. Each package is imported only when its flag is given, and a missing
one stops the loop before any work with the command that installs it. A tracker
that fails mid-study (network, quota) is reported once and dropped; the study goes on.
We send configs, metrics and verdicts only: never the environment or the command
line, which is where API keys live.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

from parser.checker.verdicts import Verdict
from parser.schema import ResultRecord

_SECRET = re.compile(r"key|token|secret|password", re.I)


class TrackerUnavailable(Exception):
    """A tracker was asked for but can't be used (package missing, can't start)."""


@runtime_checkable
class Tracker(Protocol):
    def start(self, study_name: str, hypothesis: dict, run_dir: Path) -> None: ...
    def log_run(self, record: ResultRecord, step_index: int) -> None: ...
    def log_confidences(self, step_index: int, verdicts: dict[str, Verdict]) -> None: ...
    def finish(self, stop_reason: str) -> None: ...


def add_arguments(parser) -> None:
    parser.add_argument("--wandb", action="store_true", help="mirror the study into a wandb run "
                        "(WANDB_MODE=offline to keep it local)")
    parser.add_argument("--mlflow", action="store_true", help="mirror the study into mlflow "
                        "(MLFLOW_TRACKING_URI, default file:RUN_DIR/mlruns)")


def _require(package: str, flag: str):
    try:
        return __import__(package)
    except ImportError:
        raise TrackerUnavailable(f"{flag} needs the {package} package: pip install {package}") from None


def factors(hypothesis: dict) -> list[str]:
    """The config keys the study varies (lists in initial_config)."""
    return [k for k, v in hypothesis.get("initial_config", {}).items() if isinstance(v, list)]


def final_metrics(record: ResultRecord) -> dict[str, float]:
    """The run's scalar metrics (the curve is logged as a series, not here)."""
    return {k: float(v) for k, v in (record.metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _public(d: dict) -> dict:
    return {k: v for k, v in d.items() if not _SECRET.search(k)}


class WandbTracker:
    """One wandb run per study; experiment curves under `<experiment_id>/...`."""

    def __init__(self):
        self.wandb = _require("wandb", "--wandb")
        self.run, self.rows, self.factors = None, [], []

    def start(self, study_name: str, hypothesis: dict, run_dir: Path) -> None:
        w = self.wandb
        self.factors = factors(hypothesis)
        try:  # meta off: wandb would otherwise record sys.argv and the host's environment
            self.run = w.init(project=study_name, dir=str(run_dir), mode=os.environ.get("WANDB_MODE", "online"),
                              config={"hypothesis": _public(hypothesis)},
                              settings=w.Settings(x_disable_meta=True, save_code=False, console="off"))
        except Exception as e:  # no API key, no network: say so before any training
            raise TrackerUnavailable(f"wandb could not start ({e}); log in, or set WANDB_MODE=offline") from None
        self.run.define_metric("experiment")
        self.run.define_metric("confidence/*", step_metric="experiment")

    def log_run(self, record: ResultRecord, step_index: int) -> None:
        eid = record.experiment_id
        self.run.define_metric(f"{eid}/step")
        self.run.define_metric(f"{eid}/*", step_metric=f"{eid}/step")
        for step, loss in (record.metrics or {}).get("val_curve", []):
            self.run.log({f"{eid}/step": step, f"{eid}/val_loss": loss})
        final = final_metrics(record)
        self.run.summary.update({f"{eid}/{k}": v for k, v in final.items()} | {f"{eid}/status": record.status})
        self.rows.append({"experiment_id": eid, "step_index": step_index, "status": record.status,
                          "seed": record.seed, **{f: record.config.get(f) for f in self.factors}, **final})

    def log_confidences(self, step_index: int, verdicts: dict[str, Verdict]) -> None:
        values = {f"confidence/{pid}": v.confidence for pid, v in verdicts.items() if v.confidence is not None}
        self.run.log({"experiment": step_index, **values})
        self.run.summary.update({f"status/{pid}": v.status for pid, v in verdicts.items()})

    def finish(self, stop_reason: str) -> None:
        if self.rows:
            columns = list(dict.fromkeys(k for row in self.rows for k in row))
            data = [[row.get(c) for c in columns] for row in self.rows]
            self.run.log({"experiments": self.wandb.Table(columns=columns, data=data)})
        self.run.summary["stop_reason"] = stop_reason
        self.run.finish()


class MlflowTracker:
    """A parent run per study session, a nested run per experiment (mlflow's client API,
    so the user's own active run, if any, is left alone)."""

    def __init__(self):
        _require("mlflow", "--mlflow")
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
        self.Metric, self.Param, self.RunTag, self.Client = Metric, Param, RunTag, MlflowClient
        self.client, self.parent, self.experiment_id, self.factors = None, None, None, []

    def start(self, study_name: str, hypothesis: dict, run_dir: Path) -> None:
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # mlflow >= 3.7 refuses file stores unless asked; ours is the documented default
            uri = f"file:{Path(run_dir).resolve() / 'mlruns'}"
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client, self.factors = self.Client(tracking_uri=uri), factors(hypothesis)
        try:
            found = self.client.get_experiment_by_name(study_name)
            self.experiment_id = found.experiment_id if found else self.client.create_experiment(study_name)
            self.parent = self.client.create_run(self.experiment_id, run_name=study_name).info.run_id
        except Exception as e:
            raise TrackerUnavailable(f"mlflow could not start at {uri} ({e})") from None
        fixed = {k: v for k, v in hypothesis.get("initial_config", {}).items() if k not in self.factors}
        self.client.log_batch(self.parent, params=[self.Param(k, str(v)) for k, v in _public(fixed).items()],
                              tags=[self.RunTag("claim", str(hypothesis.get("claim", "")))])

    def log_run(self, record: ResultRecord, step_index: int) -> None:
        tags = {"mlflow.parentRunId": self.parent, "status": record.status, "step_index": str(step_index)}
        run = self.client.create_run(self.experiment_id, run_name=record.experiment_id, tags=tags)
        params = {f: record.config.get(f) for f in self.factors} | {"seed": record.seed}
        ms = int(time.time() * 1000)
        metrics = [self.Metric("val_loss", float(loss), ms, int(step))
                   for step, loss in (record.metrics or {}).get("val_curve", [])]
        metrics += [self.Metric(k, v, ms, 0) for k, v in final_metrics(record).items()]
        self.client.log_batch(run.info.run_id, metrics=metrics,
                              params=[self.Param(k, str(v)) for k, v in _public(params).items()])
        self.client.set_terminated(run.info.run_id, "FINISHED" if record.status == "completed" else "FAILED")

    def log_confidences(self, step_index: int, verdicts: dict[str, Verdict]) -> None:
        ms = int(time.time() * 1000)
        metrics = [self.Metric(f"confidence/{pid}", v.confidence, ms, step_index)
                   for pid, v in verdicts.items() if v.confidence is not None]
        tags = [self.RunTag(f"status/{pid}", v.status) for pid, v in verdicts.items()]
        self.client.log_batch(self.parent, metrics=metrics, tags=tags)

    def finish(self, stop_reason: str) -> None:
        self.client.set_tag(self.parent, "stop_reason", stop_reason)
        self.client.set_terminated(self.parent, "FINISHED")


class Trackers(list):
    """Every tracker asked for, called as one. A failing tracker warns once and is dropped."""

    def start(self, study_name: str, hypothesis: dict, run_dir: Path) -> None:
        for t in self:
            t.start(study_name, hypothesis, run_dir)  # TrackerUnavailable: the loop exits 2

    def _each(self, method: str, *args) -> None:
        for t in list(self):
            try:
                getattr(t, method)(*args)
            except Exception as e:  # a tracker is a view: its outage must not stop the study
                print(f"warning: {type(t).__name__} failed ({e}); no longer tracking", file=sys.stderr)
                self.remove(t)

    def log_run(self, record: ResultRecord, step_index: int, verdicts: dict[str, Verdict] | None = None) -> None:
        self._each("log_run", record, step_index)
        if verdicts is not None:
            self._each("log_confidences", step_index, verdicts)

    def log_confidences(self, step_index: int, verdicts: dict[str, Verdict]) -> None:
        self._each("log_confidences", step_index, verdicts)

    def finish(self, stop_reason: str) -> None:
        self._each("finish", stop_reason)


def make_trackers(args) -> Trackers:
    """The trackers the flags ask for; TrackerUnavailable names the package to install."""
    chosen = Trackers()
    if getattr(args, "wandb", False):
        chosen.append(WandbTracker())
    if getattr(args, "mlflow", False):
        chosen.append(MlflowTracker())
    return chosen
