"""Structured predictions (a mapping, or `text` + `spec`) -> `Prediction`.

The user wrote the spec, so nothing is guessed: fields are validated by
`PredictionSpec`, values are typed from the search space ('1e-4' -> 0.0001), and an
interaction is tied to the comparison it qualifies.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from parser.arms import FactorValues, space_value
from parser.conditions import COPIED, condition_matches
from parser.prediction_error import PredictionError, format_loc
from parser.schema import Condition, Prediction, PredictionSpec


def structured_prediction(item: dict, pid: str, space: FactorValues, previous: list[Prediction]) -> Prediction:
    nested = "spec" in item
    if nested and set(item) - {"text", "spec", "compiled_by"}:
        extra = sorted(map(str, set(item) - {"text", "spec", "compiled_by"}))[0]
        raise PredictionError(f"unknown key {extra!r} beside 'spec'; only 'text' may sit there", field=extra)
    if item.get("compiled_by", "llm") != "llm":  # the run directory's copy marks what the LLM compiled
        raise PredictionError(f"compiled_by can only be 'llm', got {item['compiled_by']!r}", field="compiled_by")
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
    return Prediction(id=pid, text=item.get("text") or spec.text(), spec=spec,
                      compiled_by="llm" if "compiled_by" in item else "structured")


def _condition_field(fields: dict, space: FactorValues, prefix: str) -> dict:
    """Accept `condition: "n_train_samples < 5000"` beside the mapping form."""
    raw = fields.get("condition")
    if not isinstance(raw, str):
        return fields
    found = condition_matches(raw.lower().strip(), space)
    if len(found) != 1:
        raise PredictionError(f"cannot read condition {raw!r}; write e.g. 'n_train_samples < 5000'",
                              field=prefix + "condition")
    _, variable, op, value = found[0]
    return {**fields, "condition": {"variable": variable, "op": op, "value": value}}


def _canonical(spec: PredictionSpec, fields: dict, space: FactorValues, previous: list[Prediction],
               prefix: str) -> PredictionSpec:
    """Typed values from the space ('1e-4' -> 0.0001), and an interaction tied to its comparison."""
    update: dict[str, Any] = {key: space_value(getattr(spec, key), spec.factor, space)
                              for key in ("arm", "baseline")}
    if cond := spec.condition:
        update["condition"] = Condition(variable=cond.variable, op=cond.op,
                                        value=space_value(cond.value, cond.variable, space))
    if spec.kind == "interaction":
        base = _base_of(spec.of, previous, prefix)
        update["of"] = base.id
        update.update({k: getattr(base.spec, k) for k in COPIED if k not in fields})
        if "target" in fields and spec.target != base.spec.target:
            raise PredictionError(f"an interaction reads {base.id}'s pairs at {base.id}'s loss target "
                                  f"({base.spec.target}); drop target (got {spec.target!r})", field=prefix + "target")
    if spec.kind == "bound":
        update["relative"] = _bound_relative(fields, prefix)
    return spec.model_copy(update=update)


def _bound_relative(fields: dict, prefix: str) -> bool:
    """A bound's threshold is an absolute value of the metric; say so in the stored spec."""
    if fields.get("relative") is True:
        raise PredictionError("a bound's threshold is an absolute value of the metric; "
                              "drop `relative: true` (for a relative effect write a comparison)",
                              field=prefix + "relative")
    return False


def _base_of(of: str | None, previous: list[Prediction], prefix: str) -> Prediction:
    comparisons = {p.id: p for p in previous if p.spec.kind == "comparison"}
    if of is None and comparisons:
        return list(comparisons.values())[-1]  # as for plain strings: the latest comparison
    if of not in comparisons:
        raise PredictionError(f"`of` must name an earlier comparison ({', '.join(comparisons) or 'none yet'}), "
                              f"got {of!r}", field=prefix + "of")
    return comparisons[of]
