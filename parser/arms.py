"""The words of a prediction -> the factor values they name: a comparison's two arms
("pre-norm vs post-norm", "lr 3e-4 than lr 1e-4"), a value a condition or bound names."""
from __future__ import annotations

import math
import re
from typing import Any

from parser.amounts import parse_number
from parser.prediction_error import cannot_read

FactorValues = dict[str, list]  # factor name -> the values it takes in the search space

CONNECTOR = re.compile(r"\b(?:vs|versus|than|compared\s+(?:to|with)|relative\s+to)\b\.?")
ALIASES = {"n": "n_train_samples", "samples": "n_train_samples", "training samples": "n_train_samples",
           "n_train_samples": "n_train_samples", "lr": "learning_rate", "learning rate": "learning_rate",
           "fraction": "dataset_fraction", "data fraction": "dataset_fraction",
           "dataset fraction": "dataset_fraction"}
_DECORATIONS = {"norm", "ln", "layernorm", "normalization"}  # "pre-norm", "preLN" name the value "pre"


def comparison_arms(low: str, text: str, space: FactorValues) -> tuple[str, Any, Any]:
    connector = CONNECTOR.search(low)
    if connector is None:
        raise cannot_read(text, "no comparison found; write 'A vs B' with two values of one factor")
    return arm_pair(low[:connector.start()], low[connector.end():], low, text, space)


def arm_pair(left_text: str, right_text: str, low: str, text: str, space: FactorValues) -> tuple[str, Any, Any]:
    """The factor whose value is named last before the connector (the arm) and first after it."""
    left, right = tokens(left_text), tokens(right_text)
    pairs = {}
    for factor, values in space.items():
        arm = next((v for t in reversed(left) for v in values if names_value(t, v, factor)), None)
        base = next((v for t in right for v in values if names_value(t, v, factor)), None)
        if arm is not None and base is not None and arm != base:
            pairs[factor] = (arm, base)
    words = f"{left[-1] if left else ''!r} and {right[0] if right else ''!r}"
    factor, (arm, base) = one_factor(
        pairs, low, text, space, f"{words} are not two values of one factor",
        lambda names: f"{words} are ambiguous: they match values of {names}; "
                      "name the factor (e.g. 'dropout 0.1 vs 0.5')")
    return factor, arm, base


def one_factor(matches: dict, low: str, text: str, space: FactorValues, none: str, many):
    """The single factor the words name: a factor named in the text breaks a tie
    ("dropout 0.1 vs 0.5" when dataset_fraction also holds 0.1 and 0.5)."""
    if len(matches) > 1:
        hinted = {f: m for f, m in matches.items() if _hinted(f, low)}
        matches = hinted if len(hinted) == 1 else matches
    if not matches:
        tried = "; ".join(f"{f} {v}" for f, v in space.items())
        raise cannot_read(text, f"{none}; tried {tried}")
    if len(matches) > 1:
        raise cannot_read(text, many(", ".join(matches)))
    return next(iter(matches.items()))


def tokens(segment: str) -> list[str]:
    return [t.strip(".") for t in re.split(r"[\s=:,;()\"'`]+", segment) if t.strip(".")]


def names_value(token: str, value: Any, factor: str) -> bool:
    """Does a word of the text name this candidate value? Numbers compare numerically."""
    if isinstance(value, bool) or value is None:
        return token == str(value).lower()
    if isinstance(value, (int, float)):
        number = parse_number(token)
        return number is not None and math.isclose(number, value, rel_tol=1e-9)
    value = str(value).lower()
    if token == value or value in re.split(r"[-_/]", token):
        return True
    decorations = _DECORATIONS | {p for p in factor.split("_") if len(p) > 2}
    return (token.startswith(value) and token[len(value):].strip("-_") in decorations) or \
        (token.endswith(value) and token[:-len(value)].strip("-_") in decorations)


def space_value(value: Any, key: str, space: FactorValues) -> Any:
    """The space's own value that `value` names ('1e-4' -> 0.0001, 'Pre-LN' -> 'pre'),
    else the number it spells where the key is numeric, else `value` unchanged."""
    values = space.get(key, [])
    found = next((v for v in values if names_value(str(value).lower(), v, key)), None)
    if found is not None:
        return found
    number = parse_number(value) if isinstance(value, str) else None
    return number if number is not None and not any(isinstance(v, str) for v in values) else value


def _hinted(factor: str, low: str) -> bool:
    words = {factor, *(a for a, f in ALIASES.items() if f == factor),
             *(p for p in factor.split("_") if len(p) > 2)}
    return any(re.search(rf"\b{re.escape(w)}s?\b", low) for w in words)  # "2 layers" hints n_layer
