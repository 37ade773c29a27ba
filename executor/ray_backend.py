"""The Ray backend: each run is a Ray task, on whichever node has its resources free.

The task declares what the run needs (num_cpus = config.threads or 1, one GPU for a
cuda device), runs `python -m executor.train` in a subprocess on the node, stops it at
the timeout (counted from its start there), and hands back the metrics JSON text, the
exit code and the output. The driver writes the metrics, out and err files under the
run directory: the log and the run directory on the driver stay the single source of
truth, and a node never writes into them.

Failures are results, as in every backend. The trainer's own non-zero exit is a
failed run. A run lost with its worker or node (a system failure, not the run's) is
resubmitted under the same experiment id, up to `max_attempts`, then failed as
"killed"; Ray's own retries are off so that the driver counts and reports them. A
task that gives no answer within the run's timeout plus `queue_timeout_s` (the wait
for free resources and a worker; by default as long as the run may take) is cancelled
and recorded as timed out.

A plain task, not a generator, so that Ray Client (`ray://`) addresses work too. On a
remote cluster (`address` given) the project is shipped with the job as its
runtime_env working_dir; the nodes need the same Python packages (torch, numpy) and
the dataset (its cache, or the same `data_dir` path).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import run_config
from executor import config_file
from executor.atomic import write_atomic
from executor.base import RunPaths, RunResult, die_with_parent, fresh_start, outcome, stderr_tail
from run_config import RunSpec

ROOT = Path(__file__).resolve().parent.parent
MAX_ATTEMPTS = 3
STDOUT_LIMIT = 2**20  # bytes of the trainer's stdout sent back (its end)
STDERR_LIMIT = 2**16
NODE_TMP_PREFIX = "research-ray-"
SHIP_EXCLUDES = [".git", "runs", "**/__pycache__", ".pytest_cache", ".hypothesis"]
# Raised when the machinery lost the run, not when the run failed: worth another try.
LOST = ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ObjectLostError",
        "RaySystemError", "RpcError")


# --- on the node -----------------------------------------------------------------------

def train_on_node(config: dict, root: str | None, timeout_s: float, script: dict | None = None) -> dict:
    """The Ray task. The trainer (or the user's `script`, run by the command backend
    itself) writes into a node-local temp dir, named for this worker's pid so that a later
    task can remove what a killed worker left behind."""
    _sweep_orphans()
    tmp = Path(tempfile.mkdtemp(prefix=f"{NODE_TMP_PREFIX}{os.getpid()}-{config['experiment_id']}-"))
    try:
        if script is not None:
            return _script(config, script, tmp, timeout_s)
        return _train(dict(config, metrics_path=str(tmp / "metrics.json")), root, tmp, timeout_s)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _script(config: dict, script: dict, tmp: Path, timeout_s: float) -> dict:
    """The user's script as the command backend runs it, here on the node: in its workdir
    (on a cluster, the folder shipped as this task's working_dir: the current one)."""
    from executor.command import CommandExecutor

    spec = RunSpec(**dict(script, argv=tuple(script["argv"])))
    paths = RunPaths.under(tmp)
    result = CommandExecutor(spec).run(run_config.from_dict(config), paths, timeout_s)
    metrics = paths.metrics(result.experiment_id)
    return {"returncode": result.returncode, "timed_out": result.timed_out, "wall_s": result.wall_time_s,
            "metrics": metrics.read_text() if metrics.exists() else None,
            "stdout": stderr_tail(paths.out(result.experiment_id), STDOUT_LIMIT),
            "stderr": stderr_tail(paths.err(result.experiment_id), STDERR_LIMIT), "node": socket.gethostname(),
            "result": {"status": result.status, "error": result.error, "cause": result.cause,
                       "stderr_tail": result.stderr_tail}}


def _train(config: dict, root: str | None, tmp: Path, timeout_s: float) -> dict:
    config_path, out_path, err_path = tmp / "config.json", tmp / "out", tmp / "err"
    config_path.write_text(json.dumps(config))
    argv = [sys.executable, "-m", "executor.train", str(config_path)]
    start = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        # die_with_parent: a worker killed by a cancel or a lost node takes its trainer along
        proc = subprocess.Popen(argv, cwd=root or os.getcwd(), stdout=out, stderr=err, start_new_session=True,
                                preexec_fn=functools.partial(die_with_parent, os.getpid()))
        try:
            code, timed_out = proc.wait(timeout=timeout_s), False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code, timed_out = proc.wait(), True
    return _answer(code, timed_out, start, config, out_path, err_path)


def _answer(code: int, timed_out: bool, start: float, config: dict, out_path: Path, err_path: Path) -> dict:
    metrics = Path(config["metrics_path"])
    return {"returncode": code, "timed_out": timed_out, "wall_s": time.perf_counter() - start,
            "metrics": metrics.read_text() if metrics.exists() and not timed_out else None,
            "stdout": stderr_tail(out_path, STDOUT_LIMIT), "stderr": stderr_tail(err_path, STDERR_LIMIT),
            "node": socket.gethostname()}


def _sweep_orphans() -> None:
    for path in glob.glob(os.path.join(tempfile.gettempdir(), NODE_TMP_PREFIX + "*")):
        pid = Path(path).name[len(NODE_TMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def node_config(config: run_config.TrainConfig) -> dict:
    """The config as the node runs it. Ray shows a task only the GPU it assigned
    (CUDA_VISIBLE_DEVICES), so a `cuda:N` device means that one, `cuda`, and GPUs the
    driver picked for its own machine (cuda_devices) do not apply; metrics_path is set
    on the node."""
    values = run_config.to_dict(config)
    if config.device.startswith("cuda"):
        values["device"] = "cuda"
    if values.get("cuda_devices") is not None:
        values["cuda_devices"] = None
    return values


# --- on the driver ---------------------------------------------------------------------

class RayExecutor:
    """Runs `executor.train` (or the user's script, as the command backend runs it) as Ray
    tasks, on a cluster (`address`) or a local instance. On a cluster the script's workdir
    travels as each task's runtime_env working_dir (with this package beside it), so the
    nodes need no shared disk."""

    name = "ray"

    def __init__(self, address: str | None = None, max_attempts: int = MAX_ATTEMPTS,
                 queue_timeout_s: float | None = None, script: RunSpec | str | None = None):
        try:
            import ray
        except ImportError as err:
            raise RuntimeError(f"--executor ray needs Ray: pip install ray ({err})") from None
        self.ray, self.max_attempts, self.queue_timeout_s = ray, max_attempts, queue_timeout_s
        self.lost = tuple(getattr(ray.exceptions, n) for n in LOST if hasattr(ray.exceptions, n))
        self.started = not ray.is_initialized()  # close() shuts down only what we started
        if self.started:
            _init(ray, address)
        # The project root when the nodes share this file system, else the shipped working_dir.
        shipped = "working_dir" in (ray.get_runtime_context().runtime_env or {})
        self.root = None if shipped else str(ROOT)
        if isinstance(script, str):
            script = RunSpec(tuple(shlex.split(script)), text=script)
        self.script, self.options = script, {}
        if script is not None:  # it runs in its workdir, else where the loop was started
            workdir = script.workdir or os.getcwd()
            if shipped or address not in (None, "local"):
                self.options = {"runtime_env": {"working_dir": workdir, "excludes": SHIP_EXCLUDES,
                                                "py_modules": [str(ROOT / "executor"), str(ROOT / "run_config.py")]}}
                script = dataclasses.replace(script, workdir=None)  # the task's cwd is the shipped copy
            else:
                script = dataclasses.replace(script, workdir=workdir)
        self.node_script = dataclasses.asdict(script) if script is not None else None
        self.task = ray.remote(max_retries=0)(train_on_node)
        self.lock = threading.Lock()  # run() is called from several threads (--workers)
        self.live: set = set()  # tasks in flight, cancelled by close()
        self.closed = False

    def run(self, config: run_config.TrainConfig, paths: RunPaths, timeout_s: float) -> RunResult:
        eid = config.experiment_id
        config_file.write(config, paths.config_dir)
        fresh_start(paths, eid)
        notes = []  # one line per lost attempt, at the top of the err log
        for attempt in range(1, self.max_attempts + 1):
            start = time.perf_counter()
            try:
                return self._attempt(config, paths, timeout_s, attempt, notes)
            except self.ray.exceptions.RayError as err:
                if self.closed:  # close() cancelled it
                    error = "error: the run was cancelled: the executor was closed"
                    return self._failed(eid, paths, notes, start, attempt, error, "killed")
                if not self._is_lost(err):
                    return self._failed(eid, paths, notes, start, attempt, *_explain(err))
                notes.append(f"ray: attempt {attempt} of {self.max_attempts} was lost with its "
                             f"worker or node ({_first_line(err)})")
        times = f"{self.max_attempts} time" + ("s" if self.max_attempts > 1 else "")
        error = f"error: the run's Ray worker or node was lost {times} (once per attempt)"
        return self._failed(eid, paths, notes, start, self.max_attempts, error, "killed")

    def _attempt(self, config, paths: RunPaths, timeout_s: float, attempt: int, notes: list) -> RunResult:
        """One submission; raises the RayError that ended it, else returns its result."""
        eid, start = config.experiment_id, time.perf_counter()
        cpus, gpus = config.threads or 1, 1 if config.device.startswith("cuda") else 0
        task = self.task.options(num_cpus=cpus, num_gpus=gpus, **self.options)
        ref = task.remote(node_config(config), self.root, timeout_s, self.node_script)
        with self.lock:
            self.live.add(ref)
        try:
            done = self._wait(ref, timeout_s)
        finally:
            with self.lock:
                self.live.discard(ref)
        if done is None:
            error = (f"timed out: no answer from the Ray cluster within {self._patience(timeout_s):g} s "
                     f"of submitting the run (waiting for num_cpus={cpus}, num_gpus={gpus} free, or "
                     f"its node hung)")
            return self._failed(eid, paths, notes, start, attempt, error, "timeout", status="timeout")
        if done["metrics"] is not None:
            write_atomic(paths.metrics(eid), done["metrics"])
        _write_logs(paths, eid, done["stdout"], notes, done["stderr"])
        result = outcome(eid, done["returncode"], done["timed_out"], done["wall_s"], paths, timeout_s)
        if "result" in done:  # the command backend judged the run on the node: keep its word
            result = dataclasses.replace(result, **done["result"], script=self.identity())
        return dataclasses.replace(result, attempts=attempt)

    def identity(self) -> dict:
        from executor.identity import identity
        return identity(self.script.text, self.script.workdir, self.script.argv) if self.script else {}

    def _patience(self, timeout_s: float) -> float:
        return timeout_s + (timeout_s if self.queue_timeout_s is None else self.queue_timeout_s)

    def _wait(self, ref, timeout_s: float) -> dict | None:
        """The task's answer, or None if none came in time (the task is then cancelled)."""
        if not self.ray.wait([ref], timeout=self._patience(timeout_s))[0]:
            self.ray.cancel(ref, force=True)  # kills the worker, and with it the trainer
            return None
        return self.ray.get(ref)

    def _is_lost(self, err: Exception) -> bool:
        cause = getattr(err, "cause", None)  # a RayTaskError carries what ended the task
        return isinstance(err, self.lost) or isinstance(cause, self.lost)

    def _failed(self, eid: str, paths: RunPaths, notes: list, start: float, attempts: int,
                error: str, cause: str, status: str = "failed") -> RunResult:
        """A run that Ray, not the trainer, ended: no exit code, the reason in the err log."""
        _write_logs(paths, eid, "", notes + [error])
        return RunResult(eid, status, None, time.perf_counter() - start, paths.metrics(eid),
                         error, stderr_tail(paths.err(eid)), cause, attempts)

    def close(self) -> None:
        """Cancel the runs still in flight (an interrupted study), then shut down Ray
        if this executor started it."""
        with self.lock:
            self.closed = True
            for ref in list(self.live):
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


def _init(ray, address: str | None) -> None:
    if address in (None, "local"):  # this machine: the workers import the project from its root
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env, options = {"env_vars": {"PYTHONPATH": path}}, {"num_cpus": os.cpu_count()}
    else:
        env, options = {"working_dir": str(ROOT), "excludes": SHIP_EXCLUDES}, {}
    common = dict(address=address, include_dashboard=False, log_to_driver=False,
                  ignore_reinit_error=True, runtime_env=env)
    try:
        ray.init(**common, **options)
    except ValueError as err:
        if "existing cluster" not in str(err):
            raise
        ray.init(**common)  # address=None found a `ray start` cluster here: it has its own CPUs


def _explain(err: Exception) -> tuple[str, str]:
    """The error line and cause of a RayError that did not lose the worker."""
    name = type(err).__name__
    if name == "OutOfMemoryError":  # Ray's memory monitor killed the worker
        return f"error: out of memory: Ray's memory monitor killed the run ({_first_line(err)})", "oom"
    if name == "RuntimeEnvSetupError":
        return f"error: cannot start on the Ray cluster: {_first_line(err)}", "start_failed"
    return f"error: the Ray task failed: {_last_line(err)}", "exception"


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _last_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _write_logs(paths: RunPaths, eid: str, stdout: str, notes: list[str], stderr: str = "") -> None:
    """The driver's copy of the run's output; notes on lost attempts open the err log."""
    paths.out(eid).write_text(stdout)
    paths.err(eid).write_text("".join(f"{n}\n" for n in notes) + stderr)


