"""Which comparison a prediction reads, and which region of its evidence a run falls in.

The checker (runs it has), the planners (cells before they run) and the simulator's
truth (noise-free cells, in bench/) all ask here, each with its own way to tell
whether a condition holds at a point: from a record's config and metrics, from the
search space (None while that can't be known yet), or from the truth's surface.

  comparison, bound, equivalence:  "main" where the prediction's condition holds
  interaction:  "versus" where its condition holds (the effect said to be smaller),
                "main" elsewhere inside the comparison's own region. A condition on
                another variable than the comparison's is read inside the comparison's
                region ("smaller at lr = 1e-3" among the N < 5000 runs it is about).
"""
from __future__ import annotations

from typing import Callable

from parser.schema import Condition, Prediction, PredictionSpec

Holds = Callable[[Condition | None], "bool | None"]  # None: not known yet


def source_spec(prediction: Prediction, by_id: dict[str, Prediction]) -> PredictionSpec:
    """The comparison whose pairs score the prediction: an interaction's `of`, else its own spec."""
    spec = prediction.spec
    return by_id[spec.of].spec if spec.kind == "interaction" else spec


def region(spec: PredictionSpec, source: PredictionSpec, holds: Holds) -> str | None:
    """"main", "versus", "unknown" (can't be told yet) or None (the point informs nothing)."""
    inside = holds(spec.condition)
    if spec.kind != "interaction":
        return {True: "main", None: "unknown", False: None}[inside]
    if source.condition is None:
        reference = None if inside is None else not inside
    else:
        reference = holds(source.condition)
        if inside and source.condition.variable != spec.condition.variable:
            inside = reference  # scoped inside the comparison's own region
    if inside:
        return "versus"
    if inside is None or reference is None:
        return "unknown"
    return "main" if reference else None
