"""Simulated studies with known truth, for benchmarking planners and the checker.

Every case runs in one of two spaces: the quickstart's (norm_position x 2 learning
rates x 2 dataset fractions, N = 308 or 3076: every cell informs some prediction) or
a wider one shaped like hypothesis.yaml (3 learning rates x 3 fractions, where the
middle fraction, N = 1538, lies in neither N < 1000 nor N > 2000, and the middle
learning rate is no arm of the learning-rate comparisons), with a truth surface chosen so that each
prediction is clearly true, clearly false, or sits exactly at its threshold. An
effect marked AT is solved for (noise-free, with the checker's own steps_to_target)
so the prediction it names scores exactly zero. Noise runs from small to larger
than the margins, and each study gets its own noise draw.
"""
from __future__ import annotations

from dataclasses import dataclass

from scipy.optimize import brentq

from bench.truth import true_score
from parser.checker.regions import source_spec
from parser.sim_truth import Truth
from parser.hypothesis import config_space
from parser.compile import compile_all
from parser.schema import Prediction
from planner.space import Space

AT = "at_threshold"  # placeholder level, solved so the case's `at` prediction scores 0
AT_TOLERANCE = 1e-8  # |true score| below this counts as exactly at the threshold

CONFIG = {"model": "transformer_tiny", "dataset": "synthetic", "norm_position": ["pre", "post"],
          "learning_rate": [1e-3, 3e-3], "dataset_fraction": [0.1, 1.0], "seq_len": 64,
          "batch_size": 16, "max_steps": 300, "eval_interval": 25, "eval_batches": 4}
WIDE = dict(CONFIG, learning_rate=[1e-3, 2e-3, 3e-3], dataset_fraction=[0.1, 0.5, 1.0])
SPACES = {"quickstart": CONFIG, "wide": WIDE}
SMALL = {"variable": "n_train_samples", "op": "<", "value": 1000}
LARGE = {"variable": "n_train_samples", "op": ">", "value": 2000}

# (tau_arm, floor_arm): seed noise on log(tau) and log(floor), per arm
NOISE = {"low": (0.03, 0.003), "mid": (0.1, 0.01), "high": (0.3, 0.03)}


def steps(arm="pre", base="post", threshold=0.2, condition=None, factor="norm_position") -> dict:
    spec = {"metric": "steps_to_target", "direction": "lower", "factor": factor, "arm": arm,
            "baseline": base, "threshold": threshold}
    return {"spec": dict(spec, condition=condition) if condition else spec}


def loss(threshold=0.01, condition=None, relative=True) -> dict:
    spec = {"metric": "final_val_loss", "direction": "lower", "factor": "learning_rate",
            "arm": 3e-3, "baseline": 1e-3, "threshold": threshold, "relative": relative}
    return {"spec": dict(spec, condition=condition) if condition else spec}


def same_loss(margin=0.03, condition=None) -> dict:
    spec = {"kind": "equivalence", "metric": "final_val_loss", "factor": "norm_position", "arm": "pre",
            "baseline": "post", "threshold": margin}
    return {"spec": dict(spec, condition=condition) if condition else spec}


def norm_floor(pre: float | str, where: str | None = None) -> dict:
    effect = {"on": "floor", "factor": "norm_position", "levels": {"pre": pre, "post": 0.0}}
    return dict(effect, where=where) if where else effect


def smaller(of="p1", condition=LARGE) -> dict:
    return {"spec": {"kind": "interaction", "of": of, "condition": condition}}


def norm(pre: float | str, where: str | None = None) -> dict:
    effect = {"on": "tau", "factor": "norm_position", "levels": {"pre": pre, "post": 0.0}}
    return dict(effect, where=where) if where else effect


def lr(fast: float | str, where: str | None = None) -> dict:
    effect = {"on": "floor", "factor": "learning_rate", "levels": {1e-3: 0.0, 3e-3: fast}}
    return dict(effect, where=where) if where else effect


S, L = "n_train_samples < 1000", "n_train_samples >= 1000"

# name -> (predictions, effects, id of the prediction an AT level is solved for)
TEMPLATES = {
    "strong-diminishing": ([steps(condition=SMALL), smaller()], [norm(-0.6, S), norm(-0.05, L)], None),
    "strong-everywhere": ([steps(condition=SMALL), smaller()], [norm(-0.6)], None),
    "weak-reversing": ([steps(condition=SMALL), smaller()], [norm(-0.05, S), norm(0.2, L)], None),
    "weak-everywhere": ([steps(condition=SMALL), smaller()], [norm(-0.05)], None),
    "at-threshold-diminishing": ([steps(condition=SMALL), smaller()], [norm(AT, S)], "p1"),
    "growing": ([steps(condition=SMALL), smaller()], [norm(-0.05, S), norm(-0.6, L)], None),
    "lr-floor-above": ([loss(), steps(threshold=0.1)], [lr(-0.04), norm(-0.3)], None),
    "lr-floor-at-threshold": ([loss(), steps(threshold=0.1)], [lr(AT), norm(-0.02)], "p1"),
    "steps-at-threshold": ([loss(), steps(threshold=0.1)], [lr(-0.002), norm(AT)], "p2"),
    "lr-floor-regional": ([loss(condition=LARGE), loss(condition=SMALL), smaller("p1", SMALL)],
                          [lr(-0.05, L)], None),
    "null": ([steps(condition=SMALL), smaller()], [], None),
    "absolute-and-at": ([loss(0.02, relative=False), steps(condition=SMALL)], [lr(-0.03), norm(AT)], "p2"),
    # nulls: an equivalence that holds, one exactly at its margin, an interaction exactly at its margin
    "equivalent": ([same_loss(), steps(condition=SMALL)], [norm(-0.6)], None),
    "equivalence-at-margin": ([same_loss()], [norm_floor(AT)], "p1"),
    "interaction-at-margin": ([steps(condition=SMALL), smaller()], [norm(-0.3, S), norm(AT, L)], "p2"),
}


@dataclass(frozen=True)
class Case:
    name: str
    noise: str
    draw: int
    hypothesis: dict  # the hypothesis file's contents
    truth: Truth
    scores: dict[str, float]  # prediction id -> true score (> 0 holds, 0 at threshold)

    def truth_of(self, pid: str) -> str:
        score = self.scores[pid]
        return "at" if abs(score) < AT_TOLERANCE else "true" if score > 0 else "false"


def case(index: int, space: str = "quickstart", target: float | None = None, noise_scale: float = 1.0) -> Case:
    """Study `index`: template index % 15, noise level cycling so 45 cover every pair.

    `target`: a val loss written into every convergence-speed prediction ("reaches val loss
    2.3 20% sooner"), so no design cell's first pair has to train in full to set one; the
    truth (and an AT level) is then solved at that loss. `noise_scale` multiplies every
    seed-noise term of the level (x0.05: a converged loss's 0.1% spread; x3: a noisy
    steps-to-target's 30% and more), the surface staying as it is."""
    config = SPACES[space]
    names = list(TEMPLATES)
    name = names[index % len(names)]
    noise = list(NOISE)[(index + index // len(names)) % len(NOISE)]
    predictions, effects, at = TEMPLATES[name]
    if target is not None:
        predictions = [written(p, target) for p in predictions]
    tau_arm, floor_arm = (noise_scale * x for x in NOISE[noise])
    noise_terms = {"tau_shared": 0.1 * noise_scale, "tau_arm": tau_arm, "floor_shared": 0.01 * noise_scale,
                   "floor_arm": floor_arm, "draw": index}
    raw_truth = {"curve": {"initial": 5.0, "floor": 2.0, "tau": 60}, "n_train_samples": {"per_fraction": 3076},
                 "effects": effects, "noise": noise_terms}
    scaled = f"-x{noise_scale:g}" if noise_scale != 1.0 else ""
    hypothesis = {"hypothesis": {"name": f"{name}-{noise}{scaled}-{index}", "claim": f"simulated case {name}",
                                 "predictions": predictions, "initial_config": config}}
    compiled = compile_all(predictions, config_space(config))
    truth = _solve(raw_truth, compiled, at, config) if at else Truth.model_validate(raw_truth)
    scores = scores_of(truth, compiled, config)
    return Case(name, noise, index, hypothesis, truth, scores)


def written(prediction: dict, target: float) -> dict:
    """A convergence-speed comparison with its loss target written in; any other as it is
    (an interaction reads its comparison's pairs, at that comparison's target)."""
    spec = prediction["spec"]
    if spec.get("metric") != "steps_to_target":
        return prediction
    return {"spec": dict(spec, target=target)}


def scores_of(truth: Truth, predictions: list[Prediction], config: dict = CONFIG) -> dict[str, float]:
    by_id = {p.id: p for p in predictions}
    space = Space(config_space(config))
    out = {}
    for p in predictions:
        out[p.id] = true_score(truth, p, by_id, space.cells(source_spec(p, by_id).factor))
    return out


def _solve(raw: dict, predictions: list[Prediction], at: str, config: dict) -> Truth:
    """Replace the AT level by the value that puts prediction `at` exactly on its threshold."""
    target = next(p for p in predictions if p.id == at)

    def with_level(x: float) -> Truth:
        effects = [dict(e, levels={k: (x if v == AT else v) for k, v in e["levels"].items()})
                   for e in raw["effects"]]
        return Truth.model_validate(dict(raw, effects=effects))

    score = lambda x: scores_of(with_level(x), predictions, config)[at]  # noqa: E731
    lo, hi = next((a, b) for a, b in ((-0.3, 0.3), (0.0, 0.3), (-0.3, 0.0)) if score(a) * score(b) < 0)
    return with_level(brentq(score, lo, hi, xtol=1e-15, rtol=1e-15))

