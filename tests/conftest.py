"""Test-run order: files holding a slow test first; one local Ray instance per worker.

The run is spread over the machine's cores a file to a worker (pytest.ini), handed out in
collection order; a long file collected last would end the run alone on one core. The
sort is stable, so the order within each group stays as collected.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# Ray's own deadlines, raised far above what a loaded machine needs: a worker process has
# 60 s to start and register, a raylet that misses 5 health checks in a row is declared dead.
RAY_PATIENCE = {"worker_register_timeout_seconds": 3600, "health_check_failure_threshold": 100}
RAY_STARTS = 3  # ray.init waits a fixed 30 s for its raylet; a start that misses it is tried again


@pytest.fixture(scope="session")
def ray_instance():
    """A local Ray instance, started once per test process (seconds each time) and shared by
    the files that test the Ray backend; none of them shuts it down or needs it to itself.

    Started so that a loaded machine cannot fail it: the workers find the project through
    the PYTHONPATH they inherit from the raylet, not through a runtime_env (that sends every
    worker's start through Ray's runtime-env agent, a Python process slow to come up under
    load), with Ray's deadlines raised (RAY_PATIENCE), and a start that times out is retried.
    """
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install ray): Ray backend untested")
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", pythonpath)  # for the processes ray.init starts; this one's own comes back after
        for start in range(1, RAY_STARTS + 1):
            try:
                ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
                         _system_config=RAY_PATIENCE)
                break
            except Exception:
                ray.shutdown()
                if start == RAY_STARTS:
                    raise
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(items):
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
