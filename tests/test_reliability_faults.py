"""Training faults, through the local and the command backend: each one is recorded with
its own cause, stderr_tail stays bounded, and the loop goes on."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from executor.base import STDERR_TAIL_CHARS, RunPaths
from executor.command import CommandExecutor
from run_config import TrainConfig, to_dict
from parser.log import now
from parser.metrics import to_record
from tests.faults import FAULTS

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(model="transformer_tiny", dataset="synthetic", seq_len=16, batch_size=8,
            max_steps=20, eval_interval=10, eval_batches=2, threads=1)
HANG_TIMEOUT_S = 3


def run_and_record(executor, tmp_path, kind, **overrides):
    paths = RunPaths.under(tmp_path)
    eid = f"exp_{kind}"
    config = TrainConfig(experiment_id=eid, metrics_path=str(paths.metrics(eid)), **dict(TINY, **overrides))
    result = executor.run(config, paths, HANG_TIMEOUT_S if kind == "hang" else 120)
    return to_record(result, to_dict(config), {}, now()), paths


# Run in a fresh interpreter: the forkserver is started once per process, with the
# environment of that moment, and the fault hook must be in it. The hook is switched on
# only then, so that this driver (which trains nothing) does not import torch for it too.
LOCAL_DRIVER = """
import json, os, sys
from pathlib import Path
from executor.local import LocalExecutor
from tests.faults import FAULTS
from tests.test_reliability_faults import run_and_record
os.environ["RESEARCH_FAULT_INJECTION"] = "1"  # before the first run starts the forkserver
executor, out = LocalExecutor(fork=True), {}
for kind in FAULTS:
    record, paths = run_and_record(executor, Path(sys.argv[1]), kind,
                                   **({"learning_rate": 1e4} if kind == "nan" else {}))
    out[kind] = {"status": record.status, "cause": record.cause, "error": record.error,
                 "tail": len(record.stderr_tail or ""), "err_bytes": paths.err(record.experiment_id).stat().st_size}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def local_outcomes(tmp_path_factory):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "faultinject"), str(ROOT)]))
    env.pop("RESEARCH_FAULT_INJECTION", None)  # the driver turns it on for the forkserver
    done = subprocess.run([sys.executable, "-c", LOCAL_DRIVER, str(tmp_path_factory.mktemp("local"))],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("kind", list(FAULTS))
def test_a_local_training_fault_is_recorded_with_its_own_cause(local_outcomes, kind):
    got = local_outcomes[kind]
    assert got["status"] == ("timeout" if kind == "hang" else "failed"), got
    assert got["cause"] == FAULTS[kind], got
    assert got["error"] and got["tail"] <= STDERR_TAIL_CHARS


@pytest.mark.parametrize("kind", list(FAULTS))
def test_a_command_training_fault_is_recorded_with_its_own_cause(tmp_path, kind):
    executor = CommandExecutor(f"{sys.executable} {ROOT / 'tests' / 'fault_train.py'} {kind}")
    record, paths = run_and_record(executor, tmp_path, kind)
    assert record.status == ("timeout" if kind == "hang" else "failed"), record
    assert record.cause == FAULTS[kind], (record.error, record.stderr_tail)
    assert record.error and len(record.stderr_tail or "") <= STDERR_TAIL_CHARS
    assert record.metrics is None


def test_a_flood_of_output_goes_to_the_log_files_and_only_a_bounded_tail_into_the_record(tmp_path):
    executor = CommandExecutor(f"{sys.executable} {ROOT / 'tests' / 'fault_train.py'} flood")
    record, paths = run_and_record(executor, tmp_path, "flood")
    assert paths.err("exp_flood").stat().st_size >= 20 * 2**20
    assert paths.out("exp_flood").stat().st_size >= 20 * 2**20
    assert len(record.stderr_tail) <= STDERR_TAIL_CHARS
    assert len(record.model_dump_json()) < 20_000
    assert "injected fault after a flood" in record.error


def test_a_stale_metrics_file_from_a_killed_attempt_is_not_credited_to_the_rerun(tmp_path):
    paths = RunPaths.under(tmp_path)
    paths.metrics("exp_metrics_missing").write_text(json.dumps({"final_val_loss": 1.0}))
    executor = CommandExecutor(f"{sys.executable} {ROOT / 'tests' / 'fault_train.py'} metrics_missing")
    record, _ = run_and_record(executor, tmp_path, "metrics_missing")
    assert record.cause == "metrics_missing" and record.metrics is None


def test_a_completed_run_has_no_cause(tmp_path):
    executor = CommandExecutor(f"{sys.executable} {ROOT / 'tests' / 'fake_train.py'}")
    record, _ = run_and_record(executor, tmp_path, "fine")
    assert record.status == "completed" and record.cause is None


def test_a_study_whose_every_run_crashes_stops_within_bounded_runs_with_its_failures_logged(tmp_path):
    from tests.test_loop import TINY_STUDY, experiments, loop, records
    hypothesis = tmp_path / "tiny.yaml"
    hypothesis.write_text(TINY_STUDY)
    run_dir = tmp_path / "run"
    done = loop("--hypothesis", hypothesis, "--executor", "command", "--command",
                f"{sys.executable} {ROOT / 'tests' / 'fault_train.py'} segv",
                "--max-experiments", 40, "--out", run_dir)
    assert done.returncode == 0, done.stderr
    exps = experiments(run_dir)
    # two design cells (dataset_fraction 0.1, 1.0), each dropped after MAX_CELL_FAILURES
    assert 0 < len(exps) <= 8
    assert all(e["status"] == "failed" and e["cause"] == "crash" and "SIGSEGV" in e["error"] for e in exps)
    stop = records(run_dir)[-1]
    assert stop["record"] == "stop" and stop["n_experiments"] == len(exps)
    assert stop["reason"] == f"every run failed ({len(exps)}: crash); see the errors in the log"
    assert f"Stopped: {stop['reason']}" in done.stdout
