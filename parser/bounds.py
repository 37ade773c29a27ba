"""Bounds ("peak memory below 2000 MB with pre-norm": one arm's mean against an absolute
value) and equivalences ("no difference in val loss between pre-norm and post-norm
within 5%": two arms within a margin)."""
from __future__ import annotations

import re
from typing import Any

from parser.amounts import DIRECTION_WORDS, METRIC_RULES, NUM, UNITS, cut, find_amount, named_metric, parse_number
from parser.arms import CONNECTOR, FactorValues, arm_pair, names_value, one_factor, tokens
from parser.prediction_error import cannot_read, checked_spec
from parser.schema import Condition, PredictionSpec

DEFAULT_MARGIN = 0.05  # "no difference" with no margin: a 5% region of practical equivalence
_BOUND_WORDS = {**dict.fromkeys(("below", "under", "less than", "lower than", "smaller than", "fewer than",
                                 "at most", "no more than", "<", "<=", "≤"), "lower"),
                **dict.fromkeys(("above", "over", "more than", "greater than", "higher than", "at least",
                                 "no less than", "exceeds", ">", ">=", "≥"), "higher")}
_BOUND_OP = "|".join(r"\b" + w.replace(" ", r"\s+") + r"\b" if w[0].isalpha() else re.escape(w)
                     for w in sorted(_BOUND_WORDS, key=len, reverse=True))
BOUND = re.compile(rf"(?P<op>{_BOUND_OP})\s*(?P<n>{NUM})(?![\d%×]|[.,]\d|\s*(?:%|percent\b|x\b|times\b))"
                   rf"(?:\s*(?P<unit>{'|'.join(u for u, _ in UNITS)})(?![\w/]))?")
_WITH = re.compile(r"\b(?:with|using)\s+(?P<words>[^,;]*?)\s*(?=[,;]|\b(?:with|using)\b|$)")
_EQUIVALENCE = re.compile(r"\bno\s+(?:\w+\s+)?(?:difference|change)\b|\bnot\s+(?:\w+\s+)?different\b"
                          r"|\b(?:same|equivalent|equivalence|indistinguishable|equal(?:ly)?|similar|"
                          r"comparable|on par)\b|\bdo(?:es)?(?:n't|\s+not)\s+(?:matter|change|affect)\b")
_MARGIN = re.compile(rf"(?:\bwithin\s+|±\s*|\+/?-\s*)(?:±\s*|\+/?-\s*)?(?P<n>{NUM})(?!\d|\.\d)"
                     r"(?:\s*(?P<pct>%|percent\b))?")
_BETWEEN = re.compile(r"\bbetween\b(?P<left>.*?)\band\b(?P<right>.*)")


def bound_spec(m: re.Match, low: str, text: str, space: FactorValues, condition: Condition | None,
               phrase: str, own: str | None = None) -> PredictionSpec:
    """'val loss below 1.5 with pre-norm': the metric's mean against an absolute value."""
    if len(BOUND.findall(low)) > 1:
        raise cannot_read(text, "more than one bound; a prediction holds one (e.g. 'val loss below 1.5')")
    metric = own or _bound_metric(low, m["unit"], text)
    factor, arm = _bound_arm(cut(low, m.span()), text, space)
    if not factor and condition and phrase.startswith("with ") and condition.op == "==" \
            and condition.value in space.get(condition.variable, []):
        arm = next(v for v in space[condition.variable] if v == condition.value)  # the space's own 64, not 64.0
        factor, condition = condition.variable, None  # "with lr 3e-4" is the arm
    return checked_spec(text, kind="bound", metric=metric, direction=_BOUND_WORDS[re.sub(r"\s+", " ", m["op"])],
                        factor=factor, arm=arm, threshold=parse_number(m["n"]), relative=False,
                        condition=condition)


def _bound_metric(low: str, unit: str | None, text: str) -> str:
    by_unit = next((metric for pattern, metric in UNITS if unit and re.fullmatch(pattern, unit)), None)
    named = next((metric for pattern, metric in METRIC_RULES if re.search(pattern, low)), None)
    metric = named or by_unit or named_metric(low, text)
    if unit and by_unit != metric:
        raise cannot_read(text, f"the unit {unit!r} does not fit {metric}; write the threshold in that "
                                "metric's own units (MB, seconds, tokens/s, steps)")
    return metric


def _bound_arm(low: str, text: str, space: FactorValues) -> tuple[str, Any]:
    """The arm a bound is restricted to: the one value that its 'with ...' words name."""
    phrases = [m["words"] for m in _WITH.finditer(low) if m["words"]]
    if len(phrases) > 1:
        raise cannot_read(text, "a bound holds for one arm ('with pre-norm'); put other restrictions "
                                "in a condition ('at lr 3e-4')")
    return _named_value(phrases[0], text, space) if phrases else ("", None)


def _named_value(words: str, text: str, space: FactorValues) -> tuple[str, Any]:
    found: dict[str, list] = {}
    for factor, values in space.items():
        for value in (v for t in tokens(words) for v in values if names_value(t, v, factor)):
            if value not in found.setdefault(factor, []):
                found[factor].append(value)
    found = {f: hits for f, hits in found.items() if hits}
    factor, hits = one_factor(
        found, words, text, space, f"'{words}' names no value of a factor",
        lambda names: f"'{words}' names values of {names}; a bound holds for one arm: name its "
                      "factor (e.g. 'with dropout 0.1') and put the rest in a condition")
    if len(hits) > 1:
        raise cannot_read(text, f"'{words}' names {len(hits)} values of {factor}; a bound holds for one")
    return factor, hits[0]


def is_equivalence(low: str) -> bool:
    """'no difference', 'the same', 'equivalent' -- unless a direction word makes it a comparison
    ('20% lower ... at the same learning rate')."""
    return bool(_EQUIVALENCE.search(low)) and not DIRECTION_WORDS & set(re.findall(r"[a-z]+", low))


def equivalence_spec(low: str, text: str, space: FactorValues, condition: Condition | None,
                     own: str | None = None) -> PredictionSpec:
    """'no difference in val loss between A and B [within 2% | within 0.05]'.

    The margin is relative with '%' and absolute (metric units) without; with no margin
    given it is DEFAULT_MARGIN, a 5% region of practical equivalence.
    """
    margins = list(_MARGIN.finditer(low))
    if len(margins) > 1:
        raise cannot_read(text, "more than one margin; give one (e.g. 'within 2%' or 'within 0.05')")
    threshold, relative = DEFAULT_MARGIN, True
    if margins:
        n = parse_number(margins[0]["n"])
        threshold, relative = (n / 100, True) if margins[0]["pct"] else (n, False)
        low = cut(low, margins[0].span())
    if find_amount(low, text)[0] is not None:
        raise cannot_read(text, "an equivalence takes a margin ('within 2%', 'within 0.05'), not an effect size")
    factor, arm, baseline = _equivalence_arms(low, text, space)
    return checked_spec(text, kind="equivalence", metric=own or named_metric(low, text), direction="lower",
                        factor=factor, arm=arm, baseline=baseline, threshold=threshold, relative=relative,
                        condition=condition)


def _equivalence_arms(low: str, text: str, space: FactorValues) -> tuple[str, Any, Any]:
    if m := _BETWEEN.search(low):
        return arm_pair(m["left"], m["right"], low, text, space)
    m = CONNECTOR.search(low) or re.search(r"\b(?:to|with|as)\b", low) or re.search(r"\band\b", low)
    if m is None:
        raise cannot_read(text, "no arms found; write 'between A and B' or 'A vs B' with two values of one factor")
    return arm_pair(low[:m.start()], low[m.end():], low, text, space)
