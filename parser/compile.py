"""A hypothesis' predictions, in order -> `Prediction`s with ids p1, p2, ...

A plain string goes to the phrase parser (`predictions.py`), a mapping to the
structured reader (`structured.py`); a string the parser cannot read goes to the
LLM compiler when one is configured.
"""
from __future__ import annotations

from typing import Any

from parser.arms import FactorValues
from parser.prediction_error import METRICS, PredictionError
from parser.predictions import compile_prediction
from parser.schema import Prediction
from parser.structured import structured_prediction


def compile_all(raw_predictions: list[str | dict], space: FactorValues, fallback=None,
                metrics: tuple[str, ...] = METRICS) -> list[Prediction]:
    """Compile a hypothesis' predictions in order.

    `fallback(text, pid, previous, error)` (the LLM compiler, when one is configured)
    gets each plain string the phrase parser cannot read; it returns the `Prediction` or
    raises `PredictionError`. `metrics`: the names a plain string may use (the built-in
    trainer's and the hypothesis' `metrics:`).
    """
    done: list[Prediction] = []
    for index, item in enumerate(raw_predictions):
        try:
            try:
                done.append(_compile_item(item, f"p{index + 1}", space, done, metrics))
            except PredictionError as err:
                if fallback is None or not isinstance(item, str):
                    raise
                done.append(fallback(item, f"p{index + 1}", list(done), err))
        except PredictionError as err:
            err.index = index
            raise
    return done


def _compile_item(item: Any, pid: str, space: FactorValues, previous: list[Prediction],
                  metrics: tuple[str, ...]) -> Prediction:
    if isinstance(item, str):
        spec = compile_prediction(item, space, previous, metrics)
        return Prediction(id=pid, text=item, spec=spec, compiled_by="parser")
    if isinstance(item, dict):
        return structured_prediction(item, pid, space, previous)
    raise PredictionError(f"a prediction is a string or a mapping, got {item!r}")
