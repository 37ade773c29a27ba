"""One finished study on the simulator, run once per test session and shared (read-only).

Tests that change a run directory copy it first (`copy_of`).
"""
import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import loop

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=None)
def finished_study() -> Path:
    root = Path(tempfile.mkdtemp(prefix="sim-study-"))
    atexit.register(shutil.rmtree, root, True)
    out = root / "run"
    code = loop.main(["--hypothesis", str(ROOT / "examples" / "quickstart.yaml"), "--executor", "sim",
                      "--sim", str(ROOT / "examples" / "sim_truth.yaml"), "--max-experiments", "12",
                      "--out", str(out)])
    assert code == 0
    return out


def copy_of(run_dir: Path, dest: Path, only_log: bool = False) -> Path:
    """A copy of the run directory, or (only_log) of just its log and hypothesis."""
    if not only_log:
        return Path(shutil.copytree(run_dir, dest))
    dest.mkdir(parents=True)
    for name in ("research_log.jsonl", "hypothesis.yaml"):
        shutil.copy(run_dir / name, dest / name)
    return dest
