"""A numeric factor given as a range rather than a list, in Optuna's terms
(`suggest_float(low, high, log=...)`, `suggest_int(low, high, step=...)`):

    learning_rate:    {low: 1e-4, high: 1e-2, log: true}
    dataset_fraction: {low: 0.01, high: 1.0, log: true, points: 5}
    n_layer:          {low: 1, high: 8, step: 1}

The study starts from `points` values spread over the range (log-spaced with `log`,
ends included; integers rounded, snapped to `step`, duplicates dropped) and the range
itself stays on record: values inside it are the factor's values too (for an LLM's
proposals and for placing a crossing), values outside it are not.
"""
from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_POINTS = 5
KEYS = ("low", "high", "log", "step", "points")


class FactorRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)
    points: int = Field(DEFAULT_POINTS, ge=2, le=50)
    integer: bool = False  # the field takes ints (set by the loader from the field's type)

    @model_validator(mode="after")
    def _ordered(self) -> "FactorRange":
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"low and high must be finite numbers, got {self.low!r} and {self.high!r}")
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low {self.low:g}, high {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0, got low {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("step and log: true can't be combined (as in Optuna)")
        if self.integer and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"an integer field needs integer ends, got {self.low:g} and {self.high:g}")
        if self.integer and self.step is not None and self.step != int(self.step):
            raise ValueError(f"an integer field needs an integer step, got {self.step:g}")
        return self

    def contains(self, x: float) -> bool:
        if not self.low <= x <= self.high:
            return False
        if self.integer and x != int(x):
            return False
        return self.step is None or _on_step(x, self.low, self.step)

    def values(self) -> list:
        """The starting values: `points` spread over the range, snapped, distinct, in order."""
        k = self.points
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            raw = [math.exp(a + (b - a) * i / (k - 1)) for i in range(k)]
        else:
            raw = [self.low + (self.high - self.low) * i / (k - 1) for i in range(k)]
        raw[0], raw[-1] = self.low, self.high  # exactly the ends
        out = []
        for x in raw:
            x = self.snap(x)
            if x not in out:
                out.append(x)
        return out

    def snap(self, x: float):
        """The nearest value the range allows: on the step grid, an int for an integer
        field, else `x` rounded to four significant digits (3.162e-3, not 0.0031622776...)."""
        if self.step is not None:
            x = self.low + round((x - self.low) / self.step) * self.step
            x = min(x, self.low + math.floor((self.high - self.low) / self.step + 1e-9) * self.step)
        if self.integer:
            return int(round(x))
        return float(f"{x:.4g}") if self.step is None else round(x, 12)

    def text(self) -> str:
        scale = ", log" if self.log else (f", step {self.step:g}" if self.step else "")
        return f"[{self.low:g}, {self.high:g}]{scale}"


def is_range(value: Any) -> bool:
    """A mapping with low and high: the range form (anything else is left to the list/scalar rules)."""
    return isinstance(value, dict) and "low" in value and "high" in value


def parse(value: dict, integer: bool) -> FactorRange:
    """Validate a range mapping; ValueError with a message naming what is wrong."""
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        raise ValueError(f"unknown range key {unknown[0]!r}; a range takes {', '.join(KEYS)}")
    try:
        return FactorRange(**value, integer=integer)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ValueError(f"{where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}") from None


def _on_step(x: float, low: float, step: float) -> bool:
    k = (x - low) / step
    return abs(k - round(k)) < 1e-9
