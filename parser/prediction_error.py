"""What a prediction can be about, and the error that shows how to write one exactly.

The phrase readers (`predictions.py` and the modules it calls) either match exactly or
raise `PredictionError` through `cannot_read`, whose message ends with the structured
form to write instead: a wrong guess would become a confident verdict about a claim
nobody made.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from parser.schema import PredictionSpec

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


class PredictionError(ValueError):
    """A prediction that cannot be compiled; `index` and `field` locate it in a list."""

    def __init__(self, message: str, index: int | None = None, field: str = ""):
        super().__init__(message)
        self.index, self.field = index, field


def format_loc(loc: tuple) -> str:
    """pydantic's `loc` as a field path: ('spec', 'condition', 'op') -> spec.condition.op."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def cannot_read(text: str, reason: str) -> PredictionError:
    form = STRUCTURED_FORM.format(metrics=", ".join(METRICS))
    return PredictionError(f'cannot read prediction "{text}": {reason}\n{form}')


def checked_spec(text: str, **fields: Any) -> PredictionSpec:
    try:
        return PredictionSpec(**fields)
    except ValidationError as err:  # e.g. "100% lower": a ratio cannot fall below zero
        raise cannot_read(text, err.errors()[0]["msg"]) from None
