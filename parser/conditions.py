"""Where a prediction holds: its condition ("at N < 5000", "with lr 3e-4", "on fewer than
5000 samples"), and the interaction words that say its effect is smaller there
("effect diminishes at N > 50000")."""
from __future__ import annotations

import re

from parser.amounts import END, NUM, cut, find_amount, parse_number
from parser.arms import ALIASES, CONNECTOR, FactorValues, space_value
from parser.prediction_error import cannot_read, checked_spec
from parser.schema import Condition, Prediction, PredictionSpec

_OPS = {"<=": "<=", ">=": ">=", "==": "==", "=": "==", "<": "<", ">": ">", "≤": "<=", "≥": ">="}
_SAMPLES_OPS = {"fewer than": "<", "less than": "<", "under": "<", "below": "<", "at most": "<=",
                "more than": ">", "over": ">", "above": ">", "at least": ">="}
_SAMPLES = re.compile(rf"\b(?P<word>{'|'.join(_SAMPLES_OPS)})\s+(?P<val>{NUM}){END}\s+"
                      r"(?:training\s+)?(?:samples|examples)\b")
_MULTIWORD = "|".join(sorted((a for a in ALIASES if " " in a), key=len, reverse=True))
_CONDITION = re.compile(
    rf"(?:(?P<prep>at|when|for|where|if|with|on)\s+)?(?P<var>{_MULTIWORD}|[a-z_][a-z0-9_]*)\b\s*"
    rf"(?P<op><=|>=|==|=|<|>|≤|≥)?\s*(?P<val>{NUM}|[a-z][\w.-]*){END}(?:\s+(?:training\s+)?samples\b)?")
INTERACTION = re.compile(r"\b(?:diminish\w*|vanish\w*|disappear\w*|shrinks?|shrinking|weakens?|weaker"
                         r"|fades?|goes away|no longer|smaller effect|effect is smaller)\b")
# What an interaction takes from the comparison it qualifies.
COPIED = ("metric", "direction", "factor", "arm", "baseline", "relative", "target")


def find_condition(low: str, text: str, space: FactorValues) -> tuple[Condition | None, str, str]:
    """The one condition in the text (or None), the text without it, and its words."""
    found = condition_matches(low, space)
    found += [(m.span(), "n_train_samples", _SAMPLES_OPS[m["word"]], m["val"])
              for m in _SAMPLES.finditer(low)]
    if len(found) > 1:
        raise cannot_read(text, "more than one condition; a prediction holds one")
    if not found:
        return None, low, ""
    (start, end), variable, op, raw = found[0]
    known = {"n_train_samples", *space}
    if variable not in known:
        raise cannot_read(text, f"condition on unknown variable {variable!r}; known: {', '.join(sorted(known))}")
    condition = Condition(variable=variable, op=op, value=space_value(raw, variable, space))
    return condition, cut(low, (start, end)), low[start:end]


def condition_matches(low: str, space: FactorValues) -> list:
    # Tried at every word start rather than with finditer, so a rejected candidate
    # ("val loss") cannot swallow the preposition of a real one ("at N < 5000").
    found, pos = [], 0
    for word in re.finditer(r"\b[a-z_]", low):
        if word.start() < pos:
            continue
        m = _CONDITION.match(low, word.start())
        if m and _is_condition(m, low, space):
            variable = ALIASES.get(m["var"], m["var"])
            found.append((m.span(), variable, _OPS.get(m["op"] or "=", "=="), m["val"]))
            pos = m.end()
    return found


def _is_condition(m: re.Match, low: str, space: FactorValues) -> bool:
    if CONNECTOR.match(low[m.end():].lstrip()):
        return False  # "with lr 3e-4 vs lr 1e-4" names an arm, not a condition
    known = m["var"] in ALIASES or m["var"] in space
    if m["op"]:
        return bool(m["prep"]) or known
    return bool(m["prep"]) and known and parse_number(m["val"]) is not None


def interaction_spec(text: str, condition: Condition | None, previous: list[Prediction],
                     rest: str = "") -> PredictionSpec:
    if condition is None:
        raise cannot_read(text, "an interaction needs a condition saying where the effect is smaller, "
                                "e.g. 'at N > 50000 samples'")
    base = next((p for p in reversed(previous) if p.spec.kind == "comparison"), None)
    if base is None:
        raise cannot_read(text, "an interaction qualifies an earlier comparison, and there is none before it")
    copied = {key: getattr(base.spec, key) for key in COPIED}
    amount, _ = find_amount(rest, text)  # "diminishes by more than 10%": the practical margin
    kind, n = amount or ("abs", 0.0)
    margin = n / 100 if kind == "pct" else n - 1 if kind == "times" else n
    return checked_spec(text, kind="interaction", of=base.id, condition=condition, threshold=margin, **copied)
