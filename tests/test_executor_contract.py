"""What the loop relies on from every executor backend, run against each one: local (forked
and spawned), command (tests/fake_train.py as the user's script), sim, and Ray with the
built-in trainer or with the user's script.

The loop hands a backend a config and the run directory's `RunPaths`, then reads only the
`RunResult` and the files at those paths. No test here waits on the machine's speed: a run
that should finish gets an hour (NO_LIMIT), and the timeout test uses a run that would never
end, so it times out on a fast machine and a crawling one alike. Ray runs on the local
instance each test process starts once (conftest.ray_instance).
"""
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from executor import config_file
from executor.base import Executor, RunPaths, last_error_line
from executor.command import CommandExecutor
from executor.local import LocalExecutor
from executor.ray_backend import RayExecutor
from executor.sim import SimExecutor
from parser.metrics import read_metrics
from parser.sim_truth import Truth
from run_config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
NO_LIMIT = 3600.0  # a run that should finish is never cut short by a slow machine
HANG = dict(max_steps=10**9, eval_interval=10**8)  # trains (or, for fake_train, sleeps) forever
DIVERGE = dict(learning_rate=1e4)  # the trainer's NaN exit (3); the simulator's failure rule
TINY = dict(model="transformer_tiny", dataset="synthetic", seq_len=16, batch_size=8,
            max_steps=20, eval_interval=10, eval_batches=2, threads=1)
SIM_TRUTH = Truth.model_validate({
    "curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3076},
    "noise": {"tau_shared": 0.3, "tau_arm": 0.05, "floor_arm": 0.005},
    "failures": {"learning_rate": {1e4: "loss diverged at step 1 (loss=nan)"}}})

FAKE_TRAIN = f"{sys.executable} {ROOT / 'tests' / 'fake_train.py'}"  # the user's own script, as it were
BACKENDS = {
    "local-fork": lambda: LocalExecutor(fork=True),
    "local-spawn": lambda: LocalExecutor(fork=False),
    "command": lambda: CommandExecutor(FAKE_TRAIN),
    "sim": lambda: SimExecutor(SIM_TRUTH),
    "ray": RayExecutor,
    "ray-command": lambda: RayExecutor(script=FAKE_TRAIN),
}


@pytest.fixture(scope="module", params=list(BACKENDS))
def backend_name(request):
    """Module-scoped so that pytest runs each backend's tests together, Ray's last."""
    return request.param


@pytest.fixture(scope="module")
def backend(backend_name, request):
    """One executor per backend for the whole file, as the loop keeps one for a study."""
    if backend_name.startswith("ray"):
        request.getfixturevalue("ray_instance")
    executor = BACKENDS[backend_name]()
    yield executor
    executor.close()


def config(paths: RunPaths, eid: str = "exp_0001", **overrides) -> TrainConfig:
    """As the loop makes it: the metrics path is the run directory's, resolved."""
    return TrainConfig(experiment_id=eid, metrics_path=str(paths.metrics(eid).resolve()), **dict(TINY, **overrides))


def run(executor, paths: RunPaths, eid: str = "exp_0001", timeout: float = NO_LIMIT, **overrides):
    return executor.run(config(paths, eid, **overrides), paths, timeout)


def metrics_of(result) -> dict:
    metrics, problem = read_metrics(result.metrics_path)
    assert problem is None, problem
    return metrics


@pytest.fixture
def paths(tmp_path) -> RunPaths:
    return RunPaths.under(tmp_path / "run")


@pytest.fixture(scope="module")
def good(backend, tmp_path_factory):
    """One good run of each backend (seed 7), read by several tests: (result, paths)."""
    paths = RunPaths.under(tmp_path_factory.mktemp("good"))
    return run(backend, paths, seed=7), paths


@pytest.fixture(scope="module")
def failed(backend, tmp_path_factory):
    """A run that diverges, under an id whose earlier attempt left its metrics file."""
    paths = RunPaths.under(tmp_path_factory.mktemp("failed"))
    paths.metrics("exp_0001").write_text('{"final_val_loss": 1.0}\n')
    return run(backend, paths, **DIVERGE), paths


def test_every_backend_is_an_executor_with_a_name(backend):
    assert isinstance(backend, Executor) and isinstance(backend.name, str) and backend.name


def test_a_good_run_completes_under_its_id_with_exit_code_0(good):
    result, _ = good
    assert (result.experiment_id, result.status, result.returncode) == ("exp_0001", "completed", 0), result.stderr_tail
    assert not result.timed_out and result.error is None and result.cause is None
    assert result.attempts == 1 and result.wall_time_s >= 0


def test_a_good_runs_metrics_file_is_where_the_loop_reads_it(good):
    result, paths = good
    assert result.metrics_path.resolve() == paths.metrics("exp_0001").resolve()
    assert metrics_of(result)["final_val_loss"] > 0


def test_the_config_is_written_to_the_config_folder_as_a_python_file_and_its_json_twin(good):
    _, paths = good
    py, js = (config_file.read(paths.config_dir / f"exp_0001.{ext}") for ext in ("py", "json"))
    assert py == js
    assert (js["experiment_id"], js["seed"], js["max_steps"]) == ("exp_0001", 7, TINY["max_steps"])


def test_the_runs_output_is_kept_in_its_log_files(good):
    _, paths = good
    assert "final_val_loss" in paths.out("exp_0001").read_text()
    assert paths.err("exp_0001").exists()


def test_the_metrics_file_is_the_run_directorys_even_when_the_config_names_another(backend, paths, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    cfg = TrainConfig(experiment_id="exp_0001", metrics_path=str(elsewhere), **TINY)
    result = backend.run(cfg, paths, NO_LIMIT)
    assert result.metrics_path.resolve() == paths.metrics("exp_0001").resolve()
    assert metrics_of(result)["final_val_loss"] > 0 and not elsewhere.exists()


def test_a_failed_run_is_a_result_with_the_last_error_line_it_printed(failed):
    result, paths = failed
    assert (result.status, result.returncode, result.cause) == ("failed", 3, "diverged")
    printed = paths.err("exp_0001").read_text()
    assert result.error == last_error_line(printed) and "diverged" in result.error
    assert result.error in result.stderr_tail


def test_a_failed_run_leaves_no_metrics_file_not_even_an_earlier_attempts(failed):
    _, paths = failed
    assert not paths.metrics("exp_0001").exists()


def test_a_run_that_would_never_end_times_out_at_its_limit(backend, paths):
    result = run(backend, paths, timeout=2, **HANG)
    assert result.status == "timeout" and result.timed_out and result.cause == "timeout"
    assert result.error.startswith("timed out")
    assert not paths.metrics("exp_0001").exists()


def test_the_same_config_and_seed_give_the_same_metrics(backend, good, paths):
    first, second = metrics_of(good[0]), metrics_of(run(backend, paths, "exp_0002", seed=7))
    assert first["final_val_loss"] == second["final_val_loss"]
    assert first["val_curve"] == second["val_curve"]


def test_runs_from_several_threads_at_once_each_keep_their_own_files(backend, paths):
    """--workers calls run() from several threads, with one RunPaths for the study."""
    ids = ("exp_0001", "exp_0002")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: run(backend, paths, ids[i], seed=i), range(2)))
    assert [r.experiment_id for r in results] == list(ids)
    assert [r.status for r in results] == ["completed", "completed"], [r.stderr_tail for r in results]
    assert [json.loads((paths.config_dir / f"{eid}.json").read_text())["seed"] for eid in ids] == [0, 1]
    losses = [metrics_of(r)["final_val_loss"] for r in results]
    assert losses[0] != losses[1]  # two seeds, two runs: not one result written twice
    assert all(paths.out(eid).exists() and paths.err(eid).exists() for eid in ids)


def test_close_is_safe_twice_after_a_run(backend_name, backend, paths):
    executor = BACKENDS[backend_name]()  # its own: the shared one stays open for the others
    run(executor, paths, **DIVERGE)
    executor.close()
    executor.close()
