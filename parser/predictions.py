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
      kind: comparison          # or interaction (then give `of` and a condition)
      metric: steps_to_target   # one of {metrics}
      direction: lower          # lower | higher
      factor: norm_position
      arm: pre
      baseline: post
      threshold: 0.2            # relative: 0.2 = 20%; absolute: metric units
      relative: true
      condition: {{variable: n_train_samples, op: "<", value: 5000}}
  - spec: {{kind: interaction, of: p1, condition: {{variable: n_train_samples, op: ">", value: 50000}}}}"""

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
_COPIED = ("metric", "direction", "factor", "arm", "baseline", "relative")


class PredictionError(ValueError):
    """A prediction that cannot be compiled; `index` and `field` locate it in a list."""

    def __init__(self, message: str, index: int | None = None, field: str = ""):
        super().__init__(message)
        self.index, self.field = index, field


def compile_prediction(text: str, space: Space, previous: list[Prediction]) -> PredictionSpec:
    """Compile one plain-string prediction against the search space."""
    low = text.lower().strip().rstrip(".!")
    condition, rest = _find_condition(low, text, space)
    if _INTERACTION.search(rest):
        return _interaction(text, condition, previous)
    amount, rest = _find_amount(rest, text)
    metric = _metric(rest, text)
    direction = _direction(rest, metric, text)
    factor, arm, baseline = _arms(rest, text, space)
    threshold, relative = _threshold(amount, direction, text)
    return _spec(text, kind="comparison", metric=metric, direction=direction, factor=factor,
                 arm=arm, baseline=baseline, threshold=threshold, relative=relative,
                 condition=condition)


def compile_all(raw_predictions: list[str | dict], space: Space) -> list[Prediction]:
    """Compile a hypothesis' predictions in order, with ids p1, p2, ..."""
    done: list[Prediction] = []
    for index, item in enumerate(raw_predictions):
        try:
            done.append(_compile_item(item, f"p{index + 1}", space, done))
        except PredictionError as err:
            err.index = index
            raise
    return done


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


# --- conditions -------------------------------------------------------------------

def _find_condition(low: str, text: str, space: Space) -> tuple[Condition | None, str]:
    """The one condition in the text (or None), and the text without it."""
    found = _condition_matches(low, space)
    found += [(m.span(), "n_train_samples", _SAMPLES_OPS[m["word"]], m["val"])
              for m in _SAMPLES.finditer(low)]
    if len(found) > 1:
        raise _fail(text, "more than one condition; a prediction holds one")
    if not found:
        return None, low
    (start, end), variable, op, raw = found[0]
    known = {"n_train_samples", *space}
    if variable not in known:
        raise _fail(text, f"condition on unknown variable {variable!r}; known: {', '.join(sorted(known))}")
    condition = Condition(variable=variable, op=op, value=_space_value(raw, variable, space))
    return condition, low[:start] + " " + low[end:]


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

def _interaction(text: str, condition: Condition | None, previous: list[Prediction]) -> PredictionSpec:
    if condition is None:
        raise _fail(text, "an interaction needs a condition saying where the effect is smaller, "
                          "e.g. 'at N > 50000 samples'")
    base = next((p for p in reversed(previous) if p.spec.kind == "comparison"), None)
    if base is None:
        raise _fail(text, "an interaction qualifies an earlier comparison, and there is none before it")
    copied = {key: getattr(base.spec, key) for key in _COPIED}
    return _spec(text, kind="interaction", of=base.id, condition=condition, threshold=0.0, **copied)


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


def _direction(low: str, metric: str, text: str) -> str:
    good = "higher" if metric in _HIGHER_IS_BETTER else "lower"
    bad = "lower" if good == "higher" else "higher"
    for word in re.findall(r"[a-z]+", low):  # the first direction word decides
        if word in _PLAIN_DIRECTION:
            return _PLAIN_DIRECTION[word]
        if word in _GOOD or (metric in _TIMELIKE and word in _FAST):
            return good
        if word in _BAD or (metric in _TIMELIKE and word in _SLOW):
            return bad
    raise _fail(text, f"no direction for {metric} (lower/higher, fewer/more, faster/slower, better/worse)")


def _arms(low: str, text: str, space: Space) -> tuple[str, Any, Any]:
    connector = _CONNECTOR.search(low)
    if connector is None:
        raise _fail(text, "no comparison found; write 'A vs B' with two values of one factor")
    left, right = _tokens(low[:connector.start()]), _tokens(low[connector.end():])
    pairs = {}
    for factor, values in space.items():
        arm = next((v for t in reversed(left) for v in values if _matches(t, v, factor)), None)
        base = next((v for t in right for v in values if _matches(t, v, factor)), None)
        if arm is not None and base is not None and arm != base:
            pairs[factor] = (arm, base)
    if len(pairs) > 1:  # "dropout 0.1 vs 0.5" when dataset_fraction also holds 0.1 and 0.5
        hinted = {f: p for f, p in pairs.items() if _hinted(f, low)}
        pairs = hinted if len(hinted) == 1 else pairs
    words = f"{left[-1] if left else ''!r} and {right[0] if right else ''!r}"
    if not pairs:
        tried = "; ".join(f"{f} {v}" for f, v in space.items())
        raise _fail(text, f"{words} are not two values of one factor; tried {tried}")
    if len(pairs) > 1:
        raise _fail(text, f"{words} are ambiguous: they match values of {', '.join(pairs)}; "
                          "name the factor (e.g. 'dropout 0.1 vs 0.5')")
    factor, (arm, base) = next(iter(pairs.items()))
    return factor, arm, base


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
    return any(re.search(rf"\b{re.escape(w)}\b", low) for w in words)


# --- structured items ---------------------------------------------------------------

def _compile_item(item: Any, pid: str, space: Space, previous: list[Prediction]) -> Prediction:
    if isinstance(item, str):
        spec = compile_prediction(item, space, previous)
        return Prediction(id=pid, text=item, spec=spec, compiled_by="parser")
    if isinstance(item, dict):
        return _structured(item, pid, space, previous)
    raise PredictionError(f"a prediction is a string or a mapping, got {item!r}")


def _structured(item: dict, pid: str, space: Space, previous: list[Prediction]) -> Prediction:
    nested = "spec" in item
    if nested and set(item) - {"text", "spec"}:
        extra = sorted(map(str, set(item) - {"text", "spec"}))[0]
        raise PredictionError(f"unknown key {extra!r} beside 'spec'; only 'text' may sit there", field=extra)
    fields, prefix = (item["spec"], "spec.") if nested else ({k: v for k, v in item.items() if k != "text"}, "")
    if not isinstance(fields, dict):
        raise PredictionError(f"spec must be a mapping, got {fields!r}", field="spec")
    if not isinstance(item.get("text", ""), str):
        raise PredictionError(f"text must be a string, got {item['text']!r}", field="text")
    fields = _condition_field(fields, space, prefix)
    try:
        spec = PredictionSpec.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        field = (prefix + format_loc(first["loc"])).rstrip(".")
        raise PredictionError(f"{first['msg']} (got {first['input']!r})", field=field) from None
    spec = _canonical(spec, fields, space, previous, prefix)
    return Prediction(id=pid, text=item.get("text") or spec.text(), spec=spec, compiled_by="structured")


def _condition_field(fields: dict, space: Space, prefix: str) -> dict:
    """Accept `condition: "n_train_samples < 5000"` beside the mapping form."""
    raw = fields.get("condition")
    if not isinstance(raw, str):
        return fields
    found = _condition_matches(raw.lower().strip(), space)
    if len(found) != 1:
        raise PredictionError(f"cannot read condition {raw!r}; write e.g. 'n_train_samples < 5000'",
                              field=prefix + "condition")
    _, variable, op, value = found[0]
    return {**fields, "condition": {"variable": variable, "op": op, "value": value}}


def _canonical(spec: PredictionSpec, fields: dict, space: Space, previous: list[Prediction],
               prefix: str) -> PredictionSpec:
    """Typed values from the space ('1e-4' -> 0.0001), and an interaction tied to its comparison."""
    update = {key: _space_value(getattr(spec, key), spec.factor, space) for key in ("arm", "baseline")}
    if cond := spec.condition:
        update["condition"] = Condition(variable=cond.variable, op=cond.op,
                                        value=_space_value(cond.value, cond.variable, space))
    if spec.kind == "interaction":
        base = _base_of(spec.of, previous, prefix)
        update["of"] = base.id
        update.update({k: getattr(base.spec, k) for k in _COPIED if k not in fields})
    return spec.model_copy(update=update)


def _base_of(of: str | None, previous: list[Prediction], prefix: str) -> Prediction:
    comparisons = {p.id: p for p in previous if p.spec.kind == "comparison"}
    if of is None and comparisons:
        return list(comparisons.values())[-1]  # as for plain strings: the latest comparison
    if of not in comparisons:
        raise PredictionError(f"`of` must name an earlier comparison ({', '.join(comparisons) or 'none yet'}), "
                              f"got {of!r}", field=prefix + "of")
    return comparisons[of]
