"""What the tests of the LLM's tasks share: a study on the simulator, scripted replies."""
from pathlib import Path

import yaml

from parser import log
from parser.schema import EvolutionRecord, Hypothesis
from planner.llm import Chat, Session
from planner.space import Space
from tests.records import comparison, record
from trajectory.study import open_study

ROOT = Path(__file__).resolve().parent.parent
UNREADABLE = "Pre-norm wins on small data"
SPEC = {"kind": "comparison", "metric": "final_val_loss", "direction": "lower", "factor": "norm_position",
        "arm": "pre", "baseline": "post", "threshold": 0.05, "relative": True,
        "condition": {"variable": "n_train_samples", "op": "<", "value": 1000}, "of": None}
GRID = {"model": ["transformer_small"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
        "learning_rate": [1e-4, 3e-4], "dataset_fraction": [0.1, 1.0]}
TRUTH = {"curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3076},
         "seconds_per_step": 0.02, "effects": [{"on": "tau", "factor": "norm_position",
                                                "levels": {"pre": -0.8, "post": 0.0}}],
         "noise": {"tau_shared": 0.05, "tau_arm": 0.02, "floor_shared": 0.005, "floor_arm": 0.005,
                   "eval": 0.0, "draw": 0}, "failures": {}}
PARAGRAPH = ("Pre-norm lowered the validation loss against post-norm on every seed tried, and the "
             "prediction was confirmed with confidence above 0.99 after four pairs.")


def session(stub, **kw) -> Session:
    return Session(Chat(stub.url, "stub", 2.0, retries=0), **kw)


def hypothesis_file(tmp_path, predictions=(UNREADABLE,)) -> Path:
    doc = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    doc["hypothesis"]["predictions"] = list(predictions)
    path = tmp_path / "h.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def study_argv(path, out, *extra):
    truth = out.parent / "truth.yaml"
    truth.write_text(yaml.safe_dump(TRUTH))
    return ["--hypothesis", str(path), "--executor", "sim", "--sim", str(truth), "--out", str(out), *extra]


def refine(threshold=0.1, **spec):
    return {"action": "refine", "text": f"pre-norm lowers val loss by {threshold:.0%}",
            "spec": {**SPEC, "threshold": threshold, "condition": None, **spec}, "reason": "the interval supports it"}


def child(**spec):
    condition = {"variable": "learning_rate", "op": "==", "value": 1e-4}
    return {"action": "child", "claim": "The effect of pre-norm depends on the learning rate",
            "text": "pre-norm helps at the small learning rate",
            "spec": {**SPEC, "threshold": 0.0, "condition": condition, **spec}, "reason": "to scope it"}


def new_study(tmp_path, predictions=None):
    h = Hypothesis(claim="pre-norm helps", predictions=predictions or [comparison("p1")], initial_config=GRID)
    copy = yaml.safe_dump({"hypothesis": {"claim": h.claim, "initial_config": GRID, "predictions": [
        {"text": p.text, "spec": p.spec.model_dump()} for p in h.predictions]}}, sort_keys=False)
    return open_study(tmp_path / "run", h, Space({k: list(v) for k, v in GRID.items()}), copy, resume=False)


def cover_the_grid(n, done=0):
    """n clear pairs (pre 25% lower), one to each cell of the grid in turn, after `done` pairs."""
    cells = [(lr, f) for lr in GRID["learning_rate"] for f in GRID["dataset_fraction"]]
    out = []
    for i in range(done, done + n):
        (lr, fraction), seed, k = cells[i % len(cells)], i // len(cells), 2 * i + 1
        out += [record(f"exp_{k:04d}", "pre", seed, 1.5 + 0.01 * i, fraction, lr=lr),
                record(f"exp_{k + 1:04d}", "post", seed, 2.0, fraction, lr=lr)]
    return out


def decide(study, n=3):
    """Add clear pairs until p1 is confirmed: three, in cells that hold both levels of each
    factor between them (a verdict on the region reads every level it spans)."""
    for r in cover_the_grid(n, len(study.records) // 2):
        study.append(r)


def evolutions(study):
    return [r for r in log.replay(study.log_path) if isinstance(r, EvolutionRecord)]
