"""Plain-language predictions -> `PredictionSpec`, by a deterministic parser.

The LLM compiler (when one is configured) reads free prose; this parser covers the
common phrasings so the loop works offline. A wrong guess here would become a
confident verdict about a claim nobody made, so every step either matches exactly or
raises `PredictionError` with the structured form to write instead.

The parts it reads: the condition and interaction words (`conditions.py`), bounds and
equivalences (`bounds.py`), the amounts and the metric and direction words
(`amounts.py`), the arms (`arms.py`), the error (`prediction_error.py`).
"""
from __future__ import annotations

import re

from parser.amounts import (METRIC_RULES, NUM, cut, effect_threshold, find_amount, named_direction, named_metric,
                            own_metric, parse_number)
from parser.arms import CONNECTOR, FactorValues, comparison_arms
from parser.bounds import BOUND, bound_spec, equivalence_spec, is_equivalence
from parser.conditions import INTERACTION, find_condition, interaction_spec
from parser.prediction_error import METRICS, cannot_read, checked_spec
from parser.schema import Prediction, PredictionSpec


def compile_prediction(text: str, space: FactorValues, previous: list[Prediction],
                       metrics: tuple[str, ...] = METRICS) -> PredictionSpec:
    """Compile one plain-string prediction against the search space.

    Four shapes, tried in this order: an interaction ("effect diminishes at N > 50000"),
    an equivalence ("no difference in val loss between pre-norm and post-norm"), an
    absolute bound ("val loss below 1.5 with pre-norm") and a comparison ("20% lower
    with pre-norm vs post-norm"). `metrics` beyond METRICS are the user's (a hypothesis'
    `metrics:`), named by their own name ("val_acc" or "val acc"), which wins.
    """
    low = text.lower().strip().rstrip(".!")
    target, low = _find_target(low, text)
    spec = _compile(low, text, space, previous, metrics, target)
    return spec if target is None else _with_target(spec, target, text)


def _compile(low: str, text: str, space: FactorValues, previous: list[Prediction], metrics: tuple[str, ...],
             target: float | None) -> PredictionSpec:
    condition, rest, phrase = find_condition(low, text, space)
    if INTERACTION.search(rest):
        return interaction_spec(text, condition, previous, rest)
    own = own_metric(rest, text, [m for m in metrics if m not in METRICS])
    if target is not None:
        if own:
            raise cannot_read(text, f"a written loss target is for convergence speed (steps to reach it), not {own}")
        own = "steps_to_target"
    if is_equivalence(rest):
        return equivalence_spec(rest, text, space, condition, own)
    bound = BOUND.search(rest)
    if bound and not CONNECTOR.search(cut(rest, bound.span())) and "%" not in rest:
        return bound_spec(bound, rest, text, space, condition, phrase, own)
    amount, rest = find_amount(rest, text)
    metric = own or named_metric(rest, text)
    direction = named_direction(rest, metric, text)
    factor, arm, baseline = comparison_arms(rest, text, space)
    threshold, relative = effect_threshold(amount, direction, text)
    return checked_spec(text, kind="comparison", metric=metric, direction=direction, factor=factor,
                        arm=arm, baseline=baseline, threshold=threshold, relative=relative,
                        condition=condition)


# --- a written loss target ---------------------------------------------------------

# "reaches val loss 2.0", "to a val loss of 2.0", "reaches a val loss below 2.0", "converges
# faster at val loss 2.0": the loss whose first crossing convergence speed is measured at.
# Never a percentage or a factor.
_TARGET = re.compile(rf"\b(?:reach(?:es|ed|ing)?|hits?|gets?\s+to|to|at)\s+(?:a\s+|the\s+)?val(?:idation)?\s+loss"
                     rf"\s+(?:of\s+|=\s*|<=?\s*|≤\s*|below\s+|under\s+)?(?P<n>{NUM})"
                     r"(?![\d%×]|[.,]\d|\s*(?:%|percent\b|x\b|times\b))")


def _find_target(low: str, text: str) -> tuple[float | None, str]:
    """The loss target written in the text (or None), and the text without it."""
    found = list(_TARGET.finditer(low))
    if len(found) > 1:
        raise cannot_read(text, "more than one loss target; a convergence prediction reaches one")
    if not found:
        return None, low
    target, rest = parse_number(found[0]["n"]), cut(low, found[0].span())
    if target is None or not target > 0:
        raise cannot_read(text, f"the loss target {found[0]['n']} is not a positive number")
    other = next((m for pattern, m in METRIC_RULES[:-1] if re.search(pattern, rest)), "steps_to_target")
    if other != "steps_to_target":  # "reaches val loss 2.0 in 20% less memory": not a speed
        raise cannot_read(text, f"a written loss target is for convergence speed (steps to reach it), "
                                f"but the text also names {other}")
    return target, rest


def _with_target(spec: PredictionSpec, target: float, text: str) -> PredictionSpec:
    if spec.kind == "interaction":  # it reads its comparison's pairs, at that comparison's target
        if spec.target != target:
            raise cannot_read(text, f"an interaction reads its comparison's pairs at that comparison's loss "
                                    f"target ({spec.target}), not {target:g}")
        return spec
    if spec.kind == "bound":
        raise cannot_read(text, "a written loss target goes with a comparison of convergence speed, e.g. "
                                "'reaches val loss 2.0 20% sooner with pre-norm vs post-norm', not a bound")
    return checked_spec(text, **{**spec.model_dump(), "target": target})
