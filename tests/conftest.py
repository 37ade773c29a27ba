"""Test-run order: files holding a slow test first; one local Ray instance per worker.

The run is spread over the machine's cores a file to a worker (pytest.ini), handed out in
collection order; a long file collected last would end the run alone on one core. The
sort is stable, so the order within each group stays as collected.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ray_instance():
    """A local Ray instance, started once per test process (seconds each time) and shared by
    the files that test the Ray backend; none of them shuts it down or needs it to itself."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install ray): Ray backend untested")
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": pythonpath}})
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(items):
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
