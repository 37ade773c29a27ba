"""Plain-language predictions -> `PredictionSpec`, by a deterministic parser.

The LLM compiler (when one is configured) reads free prose; this parser covers the
common phrasings so the loop works offline. A wrong guess here would become a
confident verdict about a claim nobody made, so every step either matches exactly or
raises `PredictionError` with the structured form to write instead.
"""
from __future__ import annotations

import math
import re
from typing import Any

from pydantic import ValidationError

from parser.schema import Condition, Prediction, PredictionSpec

Space = dict[str, list]

METRICS = ("final_val_loss", "final_val_bpc", "steps_to_target", "train_time_s",
           "peak_memory_mb", "tokens_per_s")
STRUCTURED_FORM = """write it in the structured form instead, e.g.
  - text: "pre-norm reaches the loss target in 20% fewer steps at N < 5000"
    spec:
      kind: comparison          # or bound, equivalence, interaction (examples below)
      metric: steps_to_target   # one of {metrics}
      direction: lower          # lower | higher
      factor: norm_position
      arm: pre
      baseline: post
      threshold: 0.2            # relative: 0.2 = 20%; absolute: metric units
      relative: true
      condition: {{variable: n_train_samples, op: "<", value: 5000}}
      target: 2.0               # optional, steps_to_target only: the val loss to reach
  - spec: {{kind: interaction, of: p1, condition: {{variable: n_train_samples, op: ">", value: 50000}}}}
  - spec: {{kind: bound, metric: final_val_loss, direction: lower, threshold: 1.5, factor: norm_position, arm: pre}}
  - spec: {{kind: equivalence, factor: norm_position, arm: pre, baseline: post, threshold: 0.05}}  # within 5%"""

_NUM = r"\d{1,3}(?:,\d{3})+|\d*\.?\d+(?:e[-+]?\d+)?k?"
_END = r"(?![\w%]|\.\d)"  # a number ends here: "1e-4" is not "1", "5,000" not "5"
_OPS = {"<=": "<=", ">=": ">=", "==": "==", "=": "==", "<": "<", ">": ">", "≤": "<=", "≥": ">="}
_ALIASES = {"n": "n_train_samples", "samples": "n_train_samples", "training samples": "n_train_samples",
            "n_train_samples": "n_train_samples", "lr": "learning_rate", "learning rate": "learning_rate",
            "fraction": "dataset_fraction", "data fraction": "dataset_fraction",
            "dataset fraction": "dataset_fraction"}
_SAMPLES_OPS = {"fewer than": "<", "less than": "<", "under": "<", "below": "<", "at most": "<=",
                "more than": ">", "over": ">", "above": ">", "at least": ">="}
_SAMPLES = re.compile(rf"\b(?P<word>{'|'.join(_SAMPLES_OPS)})\s+(?P<val>{_NUM}){_END}\s+"
                      r"(?:training\s+)?(?:samples|examples)\b")
_MULTIWORD = "|".join(sorted((a for a in _ALIASES if " " in a), key=len, reverse=True))
_CONDITION = re.compile(
    rf"(?:(?P<prep>at|when|for|where|if|with|on)\s+)?(?P<var>{_MULTIWORD}|[a-z_][a-z0-9_]*)\b\s*"
    rf"(?P<op><=|>=|==|=|<|>|≤|≥)?\s*(?P<val>{_NUM}|[a-z][\w.-]*){_END}(?:\s+(?:training\s+)?samples\b)?")
_CONNECTOR = re.compile(r"\b(?:vs|versus|than|compared\s+(?:to|with)|relative\s+to)\b\.?")
_INTERACTION = re.compile(r"\b(?:diminish\w*|vanish\w*|disappear\w*|shrinks?|shrinking|weakens?|weaker"
                          r"|fades?|goes away|no longer|smaller effect|effect is smaller)\b")
_QUALIFIER = r"(?:\b(?:by|at least|more than|over)\s+)?"
_AMOUNTS = (("pct", re.compile(rf"{_QUALIFIER}(?P<n>{_NUM})\s*%")),
            ("times", re.compile(rf"{_QUALIFIER}(?P<n>{_NUM})\s*(?:x|×|times)(?!\w)")),
            ("abs", re.compile(rf"\bby\s+(?:at least\s+|more than\s+)?(?P<n>{_NUM}){_END}")))
# Checked in order: "converges" wins over "loss" ("val loss converges faster" is about steps).
_METRIC_RULES = ((r"converge|convergence", "steps_to_target"),
                 (r"bits per (?:byte|char)|\bbp[cb]\b", "final_val_bpc"),
                 (r"throughput|\btok(?:en)?s?\s*(?:per\s*s(?:ec(?:ond)?)?\b|/\s*s\b)", "tokens_per_s"),
                 (r"memory", "peak_memory_mb"),
                 (r"\btrain(?:s|ing)?\s+(?:time|faster|slower|quicker)|wall.?clock|runtime", "train_time_s"),
                 (r"\bloss\b", "final_val_loss"),
                 (r"\b(?:faster|slower|quicker)\b", "train_time_s"))
_PLAIN_DIRECTION = {**dict.fromkeys("lower less smaller fewer reduce reduces reduced decrease decreases "
                                    "decreased cheaper".split(), "lower"),
                    **dict.fromkeys("higher more greater larger bigger increase increases increased"
                                    .split(), "higher")}
_GOOD, _BAD = {"better", "improves", "improved", "improve"}, {"worse", "hurts", "hurt", "degrades"}
_FAST, _SLOW = {"faster", "quicker", "sooner"}, {"slower"}
_TIMELIKE = {"steps_to_target", "train_time_s", "tokens_per_s"}  # where speed words mean something
_HIGHER_IS_BETTER = {"tokens_per_s"}
_DECORATIONS = {"norm", "ln", "layernorm", "normalization"}  # "pre-norm", "preLN" name the value "pre"
_COPIED = ("metric", "direction", "factor", "arm", "baseline", "relative", "target")


class PredictionError(ValueError):
    """A prediction that cannot be compiled; `index` and `field` locate it in a list."""

    def __init__(self, message: str, index: int | None = None, field: str = ""):
        super().__init__(message)
        self.index, self.field = index, field


def compile_prediction(text: str, space: Space, previous: list[Prediction],
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


def _compile(low: str, text: str, space: Space, previous: list[Prediction], metrics: tuple[str, ...],
             target: float | None) -> PredictionSpec:
    condition, rest, phrase = _find_condition(low, text, space)
    if _INTERACTION.search(rest):
        return _interaction(text, condition, previous, rest)
    own = _own_metric(rest, text, [m for m in metrics if m not in METRICS])
    if target is not None:
        if own:
            raise _fail(text, f"a written loss target is for convergence speed (steps to reach it), not {own}")
        own = "steps_to_target"
    if _is_equivalence(rest):
        return _equivalence(rest, text, space, condition, own)
    bound = _BOUND.search(rest)
    if bound and not _CONNECTOR.search(_cut(rest, bound.span())) and "%" not in rest:
        return _bound(bound, rest, text, space, condition, phrase, own)
    amount, rest = _find_amount(rest, text)
    metric = own or _metric(rest, text)
    direction = _direction(rest, metric, text)
    factor, arm, baseline = _arms(rest, text, space)
    threshold, relative = _threshold(amount, direction, text)
    return _spec(text, kind="comparison", metric=metric, direction=direction, factor=factor,
                 arm=arm, baseline=baseline, threshold=threshold, relative=relative,
                 condition=condition)


def format_loc(loc: tuple) -> str:
    """pydantic's `loc` as a field path: ('spec', 'condition', 'op') -> spec.condition.op."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_number(token: str) -> float | None:
    """'5,000', '5e3', '50k', '3e-4' -> float; None when it is not a finite number."""
    token = token.strip().lower()
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token):
        token = token.replace(",", "")
    scale = 1000.0 if token.endswith("k") else 1.0
    try:
        value = float(token[:-1] if scale > 1 else token) * scale
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _fail(text: str, reason: str) -> PredictionError:
    form = STRUCTURED_FORM.format(metrics=", ".join(METRICS))
    return PredictionError(f'cannot read prediction "{text}": {reason}\n{form}')


def _spec(text: str, **fields: Any) -> PredictionSpec:
    try:
        return PredictionSpec(**fields)
    except ValidationError as err:  # e.g. "100% lower": a ratio cannot fall below zero
        raise _fail(text, err.errors()[0]["msg"]) from None


# --- a written loss target ---------------------------------------------------------

# "reaches val loss 2.0", "to a val loss of 2.0", "reaches a val loss below 2.0", "converges
# faster at val loss 2.0": the loss whose first crossing convergence speed is measured at.
# Never a percentage or a factor.
_TARGET = re.compile(rf"\b(?:reach(?:es|ed|ing)?|hits?|gets?\s+to|to|at)\s+(?:a\s+|the\s+)?val(?:idation)?\s+loss"
                     rf"\s+(?:of\s+|=\s*|<=?\s*|≤\s*|below\s+|under\s+)?(?P<n>{_NUM})"
                     r"(?![\d%×]|[.,]\d|\s*(?:%|percent\b|x\b|times\b))")


def _find_target(low: str, text: str) -> tuple[float | None, str]:
    """The loss target written in the text (or None), and the text without it."""
    found = list(_TARGET.finditer(low))
    if len(found) > 1:
        raise _fail(text, "more than one loss target; a convergence prediction reaches one")
    if not found:
        return None, low
    target, rest = parse_number(found[0]["n"]), _cut(low, found[0].span())
    if target is None or not target > 0:
        raise _fail(text, f"the loss target {found[0]['n']} is not a positive number")
    other = next((m for pattern, m in _METRIC_RULES[:-1] if re.search(pattern, rest)), "steps_to_target")
    if other != "steps_to_target":  # "reaches val loss 2.0 in 20% less memory": not a speed
        raise _fail(text, f"a written loss target is for convergence speed (steps to reach it), "
                          f"but the text also names {other}")
    return target, rest


def _with_target(spec: PredictionSpec, target: float, text: str) -> PredictionSpec:
    if spec.kind == "interaction":  # it reads its comparison's pairs, at that comparison's target
        if spec.target != target:
            raise _fail(text, f"an interaction reads its comparison's pairs at that comparison's loss target "
                              f"({spec.target}), not {target:g}")
        return spec
    if spec.kind == "bound":
        raise _fail(text, "a written loss target goes with a comparison of convergence speed, e.g. "
                          "'reaches val loss 2.0 20% sooner with pre-norm vs post-norm', not a bound")
    return _spec(text, **{**spec.model_dump(), "target": target})


# --- conditions -------------------------------------------------------------------

def _find_condition(low: str, text: str, space: Space) -> tuple[Condition | None, str, str]:
    """The one condition in the text (or None), the text without it, and its words."""
    found = _condition_matches(low, space)
    found += [(m.span(), "n_train_samples", _SAMPLES_OPS[m["word"]], m["val"])
              for m in _SAMPLES.finditer(low)]
    if len(found) > 1:
        raise _fail(text, "more than one condition; a prediction holds one")
    if not found:
        return None, low, ""
    (start, end), variable, op, raw = found[0]
    known = {"n_train_samples", *space}
    if variable not in known:
        raise _fail(text, f"condition on unknown variable {variable!r}; known: {', '.join(sorted(known))}")
    condition = Condition(variable=variable, op=op, value=_space_value(raw, variable, space))
    return condition, _cut(low, (start, end)), low[start:end]


def _condition_matches(low: str, space: Space) -> list:
    # Tried at every word start rather than with finditer, so a rejected candidate
    # ("val loss") cannot swallow the preposition of a real one ("at N < 5000").
    found, pos = [], 0
    for word in re.finditer(r"\b[a-z_]", low):
        if word.start() < pos:
            continue
        m = _CONDITION.match(low, word.start())
        if m and _is_condition(m, low, space):
            variable = _ALIASES.get(m["var"], m["var"])
            found.append((m.span(), variable, _OPS.get(m["op"] or "=", "=="), m["val"]))
            pos = m.end()
    return found


def _is_condition(m: re.Match, low: str, space: Space) -> bool:
    if _CONNECTOR.match(low[m.end():].lstrip()):
        return False  # "with lr 3e-4 vs lr 1e-4" names an arm, not a condition
    known = m["var"] in _ALIASES or m["var"] in space
    if m["op"]:
        return bool(m["prep"]) or known
    return bool(m["prep"]) and known and parse_number(m["val"]) is not None


# --- comparison parts -------------------------------------------------------------

def _interaction(text: str, condition: Condition | None, previous: list[Prediction],
                 rest: str = "") -> PredictionSpec:
    if condition is None:
        raise _fail(text, "an interaction needs a condition saying where the effect is smaller, "
                          "e.g. 'at N > 50000 samples'")
    base = next((p for p in reversed(previous) if p.spec.kind == "comparison"), None)
    if base is None:
        raise _fail(text, "an interaction qualifies an earlier comparison, and there is none before it")
    copied = {key: getattr(base.spec, key) for key in _COPIED}
    amount, _ = _find_amount(rest, text)  # "diminishes by more than 10%": the practical margin
    kind, n = amount or ("abs", 0.0)
    margin = n / 100 if kind == "pct" else n - 1 if kind == "times" else n
    return _spec(text, kind="interaction", of=base.id, condition=condition, threshold=margin, **copied)


def _find_amount(low: str, text: str) -> tuple[tuple[str, float] | None, str]:
    found = [(kind, m) for kind, pattern in _AMOUNTS for m in pattern.finditer(low)]
    if len(found) > 1:
        raise _fail(text, "more than one effect size; give one (e.g. '20%' or 'by 0.05')")
    if not found:
        return None, low
    kind, m = found[0]
    return (kind, parse_number(m["n"])), low[:m.start()] + " " + low[m.end():]


def _threshold(amount: tuple[str, float] | None, direction: str, text: str) -> tuple[float, bool]:
    if amount is None:
        return 0.0, True
    kind, n = amount
    if kind == "pct":
        return n / 100, True
    if kind == "abs":
        return n, False
    if n <= 1:
        raise _fail(text, f"'{n:g}x' is not an effect; use a factor above 1")
    return (1 - 1 / n if direction == "lower" else n - 1), True  # ratio below 1/n or above n


def _metric(low: str, text: str) -> str:
    for pattern, metric in _METRIC_RULES:
        if re.search(pattern, low):
            return metric
    raise _fail(text, "no metric named (val loss, bits per byte, convergence, training time, "
                      "memory, throughput)")


def _own_metric(low: str, text: str, own: list[str]) -> str | None:
    """The user's metric the text names ("val_acc", "val acc"), if any; two is an error."""
    named = [m for m in own if re.search(rf"(?<![\w]){'[ _]'.join(map(re.escape, m.lower().split('_')))}(?![\w])",
                                         low)]
    if len(named) > 1:
        raise _fail(text, f"names several metrics ({', '.join(named)}); a prediction is about one")
    return named[0] if named else None


def _direction(low: str, metric: str, text: str) -> str:
    good = "higher" if metric in _HIGHER_IS_BETTER else "lower"
    bad = "lower" if good == "higher" else "higher"
    for word in re.findall(r"[a-z]+", low):  # the first direction word decides
        if word in _PLAIN_DIRECTION:
            return _PLAIN_DIRECTION[word]
        if metric not in METRICS and word in _GOOD | _BAD | _FAST | _SLOW:
            raise _fail(text, f"{word!r} says nothing about which way {metric} should go; "
                              "write higher or lower")
        if word in _GOOD or (metric in _TIMELIKE and word in _FAST):
            return good
        if word in _BAD or (metric in _TIMELIKE and word in _SLOW):
            return bad
    raise _fail(text, f"no direction for {metric} (lower/higher, fewer/more, faster/slower, better/worse)")


def _arms(low: str, text: str, space: Space) -> tuple[str, Any, Any]:
    connector = _CONNECTOR.search(low)
    if connector is None:
        raise _fail(text, "no comparison found; write 'A vs B' with two values of one factor")
    return _pair(low[:connector.start()], low[connector.end():], low, text, space)


def _pair(left_text: str, right_text: str, low: str, text: str, space: Space) -> tuple[str, Any, Any]:
    """The factor whose value is named last before the connector (the arm) and first after it."""
    left, right = _tokens(left_text), _tokens(right_text)
    pairs = {}
    for factor, values in space.items():
        arm = next((v for t in reversed(left) for v in values if _matches(t, v, factor)), None)
        base = next((v for t in right for v in values if _matches(t, v, factor)), None)
        if arm is not None and base is not None and arm != base:
            pairs[factor] = (arm, base)
    words = f"{left[-1] if left else ''!r} and {right[0] if right else ''!r}"
    factor, (arm, base) = _one_factor(
        pairs, low, text, space, f"{words} are not two values of one factor",
        lambda names: f"{words} are ambiguous: they match values of {names}; "
                      "name the factor (e.g. 'dropout 0.1 vs 0.5')")
    return factor, arm, base


def _one_factor(matches: dict, low: str, text: str, space: Space, none: str, many):
    """The single factor the words name: a factor named in the text breaks a tie
    ("dropout 0.1 vs 0.5" when dataset_fraction also holds 0.1 and 0.5)."""
    if len(matches) > 1:
        hinted = {f: m for f, m in matches.items() if _hinted(f, low)}
        matches = hinted if len(hinted) == 1 else matches
    if not matches:
        tried = "; ".join(f"{f} {v}" for f, v in space.items())
        raise _fail(text, f"{none}; tried {tried}")
    if len(matches) > 1:
        raise _fail(text, many(", ".join(matches)))
    return next(iter(matches.items()))


def _tokens(segment: str) -> list[str]:
    return [t.strip(".") for t in re.split(r"[\s=:,;()\"'`]+", segment) if t.strip(".")]


def _matches(token: str, value: Any, factor: str) -> bool:
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


def _space_value(value: Any, key: str, space: Space) -> Any:
    """The space's own value that `value` names ('1e-4' -> 0.0001, 'Pre-LN' -> 'pre'),
    else the number it spells where the key is numeric, else `value` unchanged."""
    values = space.get(key, [])
    found = next((v for v in values if _matches(str(value).lower(), v, key)), None)
    if found is not None:
        return found
    number = parse_number(value) if isinstance(value, str) else None
    return number if number is not None and not any(isinstance(v, str) for v in values) else value


def _hinted(factor: str, low: str) -> bool:
    words = {factor, *(a for a, f in _ALIASES.items() if f == factor),
             *(p for p in factor.split("_") if len(p) > 2)}
    return any(re.search(rf"\b{re.escape(w)}s?\b", low) for w in words)  # "2 layers" hints n_layer


# --- bounds and equivalences -------------------------------------------------------

DEFAULT_MARGIN = 0.05  # "no difference" with no margin: a 5% region of practical equivalence
_BOUND_WORDS = {**dict.fromkeys(("below", "under", "less than", "lower than", "smaller than", "fewer than",
                                 "at most", "no more than", "<", "<=", "≤"), "lower"),
                **dict.fromkeys(("above", "over", "more than", "greater than", "higher than", "at least",
                                 "no less than", "exceeds", ">", ">=", "≥"), "higher")}
# Units say nothing about the threshold's size, only which metric it is in; a unit of
# another scale (GB, ms, minutes) is refused rather than silently read as MB or seconds.
_UNITS = ((r"mi?b|megabytes?", "peak_memory_mb"),
          (r"tok(?:en)?s?\s*(?:/|per)\s*s(?:ec(?:ond)?)?", "tokens_per_s"),
          (r"s|secs?|seconds?", "train_time_s"), (r"steps?", "steps_to_target"),
          (r"nats?", "final_val_loss"), (r"bp[cb]|bits?\s+per\s+(?:byte|char)", "final_val_bpc"),
          (r"[gkt]i?b|(?:kilo|giga|tera)bytes?|ms|milliseconds?|min(?:ute)?s?|h|hrs?|hours?", None))
_BOUND_OP = "|".join(r"\b" + w.replace(" ", r"\s+") + r"\b" if w[0].isalpha() else re.escape(w)
                     for w in sorted(_BOUND_WORDS, key=len, reverse=True))
_BOUND = re.compile(rf"(?P<op>{_BOUND_OP})\s*(?P<n>{_NUM})(?![\d%×]|[.,]\d|\s*(?:%|percent\b|x\b|times\b))"
                    rf"(?:\s*(?P<unit>{'|'.join(u for u, _ in _UNITS)})(?![\w/]))?")
_WITH = re.compile(r"\b(?:with|using)\s+(?P<words>[^,;]*?)\s*(?=[,;]|\b(?:with|using)\b|$)")
_EQUIVALENCE = re.compile(r"\bno\s+(?:\w+\s+)?(?:difference|change)\b|\bnot\s+(?:\w+\s+)?different\b"
                          r"|\b(?:same|equivalent|equivalence|indistinguishable|equal(?:ly)?|similar|"
                          r"comparable|on par)\b|\bdo(?:es)?(?:n't|\s+not)\s+(?:matter|change|affect)\b")
_MARGIN = re.compile(rf"(?:\bwithin\s+|±\s*|\+/?-\s*)(?:±\s*|\+/?-\s*)?(?P<n>{_NUM})(?!\d|\.\d)"
                     r"(?:\s*(?P<pct>%|percent\b))?")
_BETWEEN = re.compile(r"\bbetween\b(?P<left>.*?)\band\b(?P<right>.*)")
_DIRECTION_WORDS = {*_PLAIN_DIRECTION, *_GOOD, *_BAD, *_FAST, *_SLOW}


def _bound(m: re.Match, low: str, text: str, space: Space, condition: Condition | None,
           phrase: str, own: str | None = None) -> PredictionSpec:
    """'val loss below 1.5 with pre-norm': the metric's mean against an absolute value."""
    if len(_BOUND.findall(low)) > 1:
        raise _fail(text, "more than one bound; a prediction holds one (e.g. 'val loss below 1.5')")
    metric = own or _bound_metric(low, m["unit"], text)
    factor, arm = _bound_arm(_cut(low, m.span()), text, space)
    if not factor and condition and phrase.startswith("with ") and condition.op == "==" \
            and condition.value in space.get(condition.variable, []):
        arm = next(v for v in space[condition.variable] if v == condition.value)  # the space's own 64, not 64.0
        factor, condition = condition.variable, None  # "with lr 3e-4" is the arm
    return _spec(text, kind="bound", metric=metric, direction=_BOUND_WORDS[re.sub(r"\s+", " ", m["op"])],
                 factor=factor, arm=arm, threshold=parse_number(m["n"]), relative=False, condition=condition)


def _bound_metric(low: str, unit: str | None, text: str) -> str:
    by_unit = next((metric for pattern, metric in _UNITS if unit and re.fullmatch(pattern, unit)), None)
    named = next((metric for pattern, metric in _METRIC_RULES if re.search(pattern, low)), None)
    metric = named or by_unit or _metric(low, text)
    if unit and by_unit != metric:
        raise _fail(text, f"the unit {unit!r} does not fit {metric}; write the threshold in that "
                          "metric's own units (MB, seconds, tokens/s, steps)")
    return metric


def _bound_arm(low: str, text: str, space: Space) -> tuple[str, Any]:
    """The arm a bound is restricted to: the one value that its 'with ...' words name."""
    phrases = [m["words"] for m in _WITH.finditer(low) if m["words"]]
    if len(phrases) > 1:
        raise _fail(text, "a bound holds for one arm ('with pre-norm'); put other restrictions "
                          "in a condition ('at lr 3e-4')")
    return _named_value(phrases[0], text, space) if phrases else ("", None)


def _named_value(words: str, text: str, space: Space) -> tuple[str, Any]:
    found: dict[str, list] = {}
    for factor, values in space.items():
        for value in (v for t in _tokens(words) for v in values if _matches(t, v, factor)):
            if value not in found.setdefault(factor, []):
                found[factor].append(value)
    found = {f: hits for f, hits in found.items() if hits}
    factor, hits = _one_factor(
        found, words, text, space, f"'{words}' names no value of a factor",
        lambda names: f"'{words}' names values of {names}; a bound holds for one arm: name its "
                      "factor (e.g. 'with dropout 0.1') and put the rest in a condition")
    if len(hits) > 1:
        raise _fail(text, f"'{words}' names {len(hits)} values of {factor}; a bound holds for one")
    return factor, hits[0]


def _is_equivalence(low: str) -> bool:
    """'no difference', 'the same', 'equivalent' -- unless a direction word makes it a comparison
    ('20% lower ... at the same learning rate')."""
    return bool(_EQUIVALENCE.search(low)) and not _DIRECTION_WORDS & set(re.findall(r"[a-z]+", low))


def _equivalence(low: str, text: str, space: Space, condition: Condition | None,
                 own: str | None = None) -> PredictionSpec:
    """'no difference in val loss between A and B [within 2% | within 0.05]'.

    The margin is relative with '%' and absolute (metric units) without; with no margin
    given it is DEFAULT_MARGIN, a 5% region of practical equivalence.
    """
    margins = list(_MARGIN.finditer(low))
    if len(margins) > 1:
        raise _fail(text, "more than one margin; give one (e.g. 'within 2%' or 'within 0.05')")
    threshold, relative = DEFAULT_MARGIN, True
    if margins:
        n = parse_number(margins[0]["n"])
        threshold, relative = (n / 100, True) if margins[0]["pct"] else (n, False)
        low = _cut(low, margins[0].span())
    if _find_amount(low, text)[0] is not None:
        raise _fail(text, "an equivalence takes a margin ('within 2%', 'within 0.05'), not an effect size")
    factor, arm, baseline = _equivalence_arms(low, text, space)
    return _spec(text, kind="equivalence", metric=own or _metric(low, text), direction="lower", factor=factor,
                 arm=arm, baseline=baseline, threshold=threshold, relative=relative, condition=condition)


def _equivalence_arms(low: str, text: str, space: Space) -> tuple[str, Any, Any]:
    if m := _BETWEEN.search(low):
        return _pair(m["left"], m["right"], low, text, space)
    m = _CONNECTOR.search(low) or re.search(r"\b(?:to|with|as)\b", low) or re.search(r"\band\b", low)
    if m is None:
        raise _fail(text, "no arms found; write 'between A and B' or 'A vs B' with two values of one factor")
    return _pair(low[:m.start()], low[m.end():], low, text, space)


def _cut(low: str, span: tuple[int, int]) -> str:
    return low[:span[0]] + " " + low[span[1]:]
