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


LONG_HYPOTHESIS = "No difference in val loss between pre-norm and post-norm within 0.4%"


@lru_cache(maxsize=None)
def long_study(runs: int = 200) -> Path:
    """A study that spends its whole budget: the quickstart plus an equivalence too tight to
    settle, walked by the random planner on the simulator (read-only, shared)."""
    import contextlib
    import io

    import yaml

    from executor.sim import SimExecutor
    from parser.sim_truth import load_truth
    from planner.baselines import RandomPlanner

    root = Path(tempfile.mkdtemp(prefix="sim-long-"))
    atexit.register(shutil.rmtree, root, True)
    hypothesis = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    hypothesis["hypothesis"]["predictions"].append(LONG_HYPOTHESIS)
    source = root / "long.yaml"
    source.write_text(yaml.safe_dump(hypothesis, sort_keys=False))
    args = loop.parse_args(["--hypothesis", str(source), "--executor", "sim", "--max-experiments", str(runs),
                            "--out", str(root / "run")])
    study = loop.open_from_args(args)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = load_truth(ROOT / "examples" / "sim_truth.yaml")
        reason = loop.research(study, RandomPlanner(seed=0, max_seeds=runs), SimExecutor(truth),
                               loop.LoopOptions.from_args(args))
    study.stop(reason, "2026-01-01T00:00:00+00:00")
    study.close()
    return root / "run"
