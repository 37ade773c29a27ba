"""The local backend: each run is its own process, forked from a warm server.

`python -m executor.train` pays ~3 s of interpreter start and `import torch` on a
small machine, which is 10-30% of a short run. A forkserver that has imported the
trainer once hands each run a fresh process (own memory, own crash, own exit code,
killable) in milliseconds. `--spawn` style plain subprocesses stay available.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.machinery
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import run_config
from executor import config_file
from executor.base import RunPaths, RunResult, die_with_parent, fresh_start, outcome

# torch._dynamo: the optimizers import it lazily on construction, 2 s on a small CPU.
_PRELOAD = ["torch._dynamo", "executor.train", "executor.local"]


def _child(config_path: str, out_path: str, err_path: str) -> None:
    die_with_parent()
    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    from executor import train

    try:
        code = train.main([config_path])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


@contextlib.contextmanager
def _main_not_reimported():
    """Start a child without re-running the main script in it.

    multiprocessing re-imports `python loop.py` (pydantic, scipy: 1.3 s here) in every
    child it starts from a script, and Python 3.11's forkserver never preloads it.
    The child needs nothing from it (its target lives in this module); a main module
    named "__main__" is the case in which multiprocessing.spawn skips that fix-up.
    """
    main = sys.modules["__main__"]
    saved = getattr(main, "__spec__", None)
    if saved is None:
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = saved


def _metrics_in_run_dir(config: run_config.TrainConfig, paths: RunPaths) -> run_config.TrainConfig:
    """The config with its metrics file where the result says it is: the run directory's
    (`RunPaths`), as every backend keeps it, whatever path the config came with (the loop's
    configs already name that one, and are written unchanged)."""
    wanted = paths.metrics(config.experiment_id).resolve()
    if Path(config.metrics_path).resolve() == wanted:
        return config
    return dataclasses.replace(config, metrics_path=str(wanted))


class LocalExecutor:
    """Runs `executor.train` on this machine, one process per run."""

    name = "local"

    def __init__(self, fork: bool = True):
        self.fork = fork and "forkserver" in multiprocessing.get_all_start_methods()
        self.lock = threading.Lock()  # run() may be called from several threads (--workers)
        self.live: set = set()  # runs in progress, killed by close()
        if self.fork:
            self.ctx = multiprocessing.get_context("forkserver")
            self.ctx.set_forkserver_preload(_PRELOAD)

    def run(self, config: run_config.TrainConfig, paths: RunPaths, timeout_s: float) -> RunResult:
        eid = config.experiment_id
        _, json_path = config_file.write(_metrics_in_run_dir(config, paths), paths.config_dir)
        fresh_start(paths, eid)
        start = time.perf_counter()
        if self.fork:
            code, timed_out = self._run_forked(json_path, paths, eid, timeout_s)
        else:
            code, timed_out = self._run_spawned(json_path, paths, eid, timeout_s)
        return outcome(eid, code, timed_out, time.perf_counter() - start, paths, timeout_s)

    def _run_forked(self, json_path: Path, paths: RunPaths, eid: str, timeout_s: float):
        proc = self.ctx.Process(target=_child, args=(str(json_path), str(paths.out(eid)),
                                                     str(paths.err(eid))), daemon=True)
        with self.lock, _main_not_reimported():
            proc.start()
            self.live.add(proc)
        try:
            proc.join(timeout_s)
            timed_out = proc.is_alive()
            if timed_out:
                proc.kill()
                proc.join()
            return proc.exitcode, timed_out
        finally:
            with self.lock:
                self.live.discard(proc)

    def _run_spawned(self, json_path: Path, paths: RunPaths, eid: str, timeout_s: float):
        root = Path(__file__).resolve().parent.parent
        with open(paths.out(eid), "wb") as out, open(paths.err(eid), "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "executor.train", str(json_path)],
                                    stdout=out, stderr=err, cwd=root, start_new_session=True,
                                    preexec_fn=functools.partial(die_with_parent, os.getpid()))
            with self.lock:
                self.live.add(proc)
            try:
                return proc.wait(timeout=timeout_s), False
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait(), True
            finally:
                with self.lock:
                    self.live.discard(proc)

    def close(self) -> None:
        """Kill the runs still in progress (an interrupted study with --workers)."""
        with self.lock:
            for proc in list(self.live):
                with contextlib.suppress(Exception):
                    proc.kill()


def timed_step(values: dict, timeout_s: float = 300.0) -> float | None:
    """Seconds one training step of the config `values` takes here: `executor.train --dry-run`
    times a forward and backward pass; None if it could not say (it fails, or times out)."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dry.json"
        path.write_text(json.dumps(run_config.to_dict(run_config.from_dict(dict(values, experiment_id="dry_step")))))
        try:
            done = subprocess.run([sys.executable, "-m", "executor.train", str(path), "--dry-run"],
                                  capture_output=True, text=True, timeout=timeout_s,
                                  cwd=Path(__file__).resolve().parent.parent)
        except (OSError, subprocess.SubprocessError):
            return None
    for line in done.stdout.splitlines():
        if line.startswith("step_time_s: "):
            return float(line.split(": ", 1)[1])
    return None
