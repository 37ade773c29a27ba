"""The amounts of a prediction and the words around them: numbers, effect sizes ("20%",
"2x", "by 0.05"), units, and the words that name a metric and its direction."""
from __future__ import annotations

import math
import re

from parser.prediction_error import METRICS, cannot_read

NUM = r"\d{1,3}(?:,\d{3})+|\d*\.?\d+(?:e[-+]?\d+)?k?"
END = r"(?![\w%]|\.\d)"  # a number ends here: "1e-4" is not "1", "5,000" not "5"
_QUALIFIER = r"(?:\b(?:by|at least|more than|over)\s+)?"
_AMOUNTS = (("pct", re.compile(rf"{_QUALIFIER}(?P<n>{NUM})\s*%")),
            ("times", re.compile(rf"{_QUALIFIER}(?P<n>{NUM})\s*(?:x|×|times)(?!\w)")),
            ("abs", re.compile(rf"\bby\s+(?:at least\s+|more than\s+)?(?P<n>{NUM}){END}")))
# Checked in order: "converges" wins over "loss" ("val loss converges faster" is about steps).
METRIC_RULES = ((r"converge|convergence", "steps_to_target"),
                (r"bits per (?:byte|char)|\bbp[cb]\b", "final_val_bpc"),
                (r"throughput|\btok(?:en)?s?\s*(?:per\s*s(?:ec(?:ond)?)?\b|/\s*s\b)", "tokens_per_s"),
                (r"memory", "peak_memory_mb"),
                (r"\btrain(?:s|ing)?\s+(?:time|faster|slower|quicker)|wall.?clock|runtime", "train_time_s"),
                (r"\bloss\b", "final_val_loss"),
                (r"\b(?:faster|slower|quicker)\b", "train_time_s"))
# Units say nothing about the threshold's size, only which metric it is in; a unit of
# another scale (GB, ms, minutes) is refused rather than silently read as MB or seconds.
UNITS = ((r"mi?b|megabytes?", "peak_memory_mb"),
         (r"tok(?:en)?s?\s*(?:/|per)\s*s(?:ec(?:ond)?)?", "tokens_per_s"),
         (r"s|secs?|seconds?", "train_time_s"), (r"steps?", "steps_to_target"),
         (r"nats?", "final_val_loss"), (r"bp[cb]|bits?\s+per\s+(?:byte|char)", "final_val_bpc"),
         (r"[gkt]i?b|(?:kilo|giga|tera)bytes?|ms|milliseconds?|min(?:ute)?s?|h|hrs?|hours?", None))
_PLAIN_DIRECTION = {**dict.fromkeys("lower less smaller fewer reduce reduces reduced decrease decreases "
                                    "decreased cheaper".split(), "lower"),
                    **dict.fromkeys("higher more greater larger bigger increase increases increased"
                                    .split(), "higher")}
_GOOD, _BAD = {"better", "improves", "improved", "improve"}, {"worse", "hurts", "hurt", "degrades"}
_FAST, _SLOW = {"faster", "quicker", "sooner"}, {"slower"}
_TIMELIKE = {"steps_to_target", "train_time_s", "tokens_per_s"}  # where speed words mean something
_HIGHER_IS_BETTER = {"tokens_per_s"}
DIRECTION_WORDS = {*_PLAIN_DIRECTION, *_GOOD, *_BAD, *_FAST, *_SLOW}


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


def cut(low: str, span: tuple[int, int]) -> str:
    return low[:span[0]] + " " + low[span[1]:]


def find_amount(low: str, text: str) -> tuple[tuple[str, float] | None, str]:
    found = [(kind, m) for kind, pattern in _AMOUNTS for m in pattern.finditer(low)]
    if len(found) > 1:
        raise cannot_read(text, "more than one effect size; give one (e.g. '20%' or 'by 0.05')")
    if not found:
        return None, low
    kind, m = found[0]
    return (kind, parse_number(m["n"])), low[:m.start()] + " " + low[m.end():]


def effect_threshold(amount: tuple[str, float] | None, direction: str, text: str) -> tuple[float, bool]:
    if amount is None:
        return 0.0, True
    kind, n = amount
    if kind == "pct":
        return n / 100, True
    if kind == "abs":
        return n, False
    if n <= 1:
        raise cannot_read(text, f"'{n:g}x' is not an effect; use a factor above 1")
    return (1 - 1 / n if direction == "lower" else n - 1), True  # ratio below 1/n or above n


def named_metric(low: str, text: str) -> str:
    for pattern, metric in METRIC_RULES:
        if re.search(pattern, low):
            return metric
    raise cannot_read(text, "no metric named (val loss, bits per byte, convergence, training time, "
                            "memory, throughput)")


def own_metric(low: str, text: str, own: list[str]) -> str | None:
    """The user's metric the text names ("val_acc", "val acc"), if any; two is an error."""
    named = [m for m in own if re.search(rf"(?<![\w]){'[ _]'.join(map(re.escape, m.lower().split('_')))}(?![\w])",
                                         low)]
    if len(named) > 1:
        raise cannot_read(text, f"names several metrics ({', '.join(named)}); a prediction is about one")
    return named[0] if named else None


def named_direction(low: str, metric: str, text: str) -> str:
    good = "higher" if metric in _HIGHER_IS_BETTER else "lower"
    bad = "lower" if good == "higher" else "higher"
    for word in re.findall(r"[a-z]+", low):  # the first direction word decides
        if word in _PLAIN_DIRECTION:
            return _PLAIN_DIRECTION[word]
        if metric not in METRICS and word in _GOOD | _BAD | _FAST | _SLOW:
            raise cannot_read(text, f"{word!r} says nothing about which way {metric} should go; "
                                    "write higher or lower")
        if word in _GOOD or (metric in _TIMELIKE and word in _FAST):
            return good
        if word in _BAD or (metric in _TIMELIKE and word in _SLOW):
            return bad
    raise cannot_read(text, f"no direction for {metric} (lower/higher, fewer/more, faster/slower, better/worse)")
