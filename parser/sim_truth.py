"""The simulated backend's truth file: schema and loading (see examples/sim_truth.yaml).

Validated with `extra="forbid"`; every error names the file and the field:
    truth.yaml: noise.tua_shared: unknown key
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from run_config import FACTORS, check_factor_name
from parser.schema import Condition, Scalar


class SimTruthError(Exception):
    """A truth file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Curve(_Strict):
    initial: float = Field(gt=0)
    floor: float = Field(gt=0)
    tau: float = Field(gt=0)  # steps for the excess loss to fall by a factor e

    @model_validator(mode="after")
    def _falls(self) -> "Curve":
        if self.initial <= self.floor:
            raise ValueError(f"initial {self.initial} must be above floor {self.floor}")
        return self


class Samples(_Strict):
    per_fraction: float | None = Field(None, gt=0)  # None: the dataset registry's count


class Along(_Strict):
    """A shift that grows smoothly along a numeric variable: per_e_fold[level] * log(value / at)."""

    variable: str  # a numeric factor or n_train_samples
    at: float = Field(gt=0)  # where the level's own shift holds exactly
    per_e_fold: dict[Scalar, float]  # level -> change of the shift per e-fold of the variable


class Effect(_Strict):
    on: Literal["tau", "floor"]
    factor: str
    levels: dict[Scalar, float]  # level -> shift of log(tau) or log(floor); unlisted levels add 0
    where: Condition | None = None
    along: Along | None = None  # the shift varies smoothly: levels[l] + per_e_fold[l] * log(v / at)

    @field_validator("where", mode="before")
    @classmethod
    def _parse_where(cls, where: Any) -> Any:
        return parse_condition(where) if isinstance(where, str) else where


class Noise(_Strict):
    tau_shared: float = Field(0.0, ge=0)
    tau_arm: float = Field(0.0, ge=0)
    floor_shared: float = Field(0.0, ge=0)
    floor_arm: float = Field(0.0, ge=0)
    eval: float = Field(0.0, ge=0)  # absolute, per evaluation point
    draw: int = 0  # another draw of every noise term: the same surface, another world
    paired_over: list[str] | None = None  # factors left out of the shared draw; None = those with effects


class Truth(_Strict):
    curve: Curve
    n_train_samples: Samples = Samples()
    seconds_per_step: float = Field(0.02, gt=0)
    step_cost: dict[str, dict[Scalar, float]] = {}  # factor -> level -> multiplier of seconds_per_step
    peak_memory_mb: float = Field(100.0, ge=0)
    effects: list[Effect] = []
    noise: Noise = Noise()
    failures: dict[str, dict[Scalar, str]] = {}  # factor -> level -> why such a run fails
    factors: list[str] = []  # the user's own factors this world knows, beside the built-in ones

    @model_validator(mode="after")
    def _known_factors(self) -> "Truth":
        """Every factor named is a built-in one or listed in `factors` (a typo is an error)."""
        for name in self.factors:
            check_factor_name(name)
        named = [(f"effects.{i}.factor", e.factor) for i, e in enumerate(self.effects)]
        named += [(f"effects.{i}.where", e.where.variable) for i, e in enumerate(self.effects)
                  if e.where is not None and e.where.variable != "n_train_samples"]
        named += [(f"effects.{i}.along.variable", e.along.variable) for i, e in enumerate(self.effects)
                  if e.along is not None and e.along.variable != "n_train_samples"]
        named += [(f"{table}.{k}", k) for table in ("step_cost", "failures") for k in getattr(self, table)]
        for where, name in named:
            if name not in FACTORS and name not in self.factors:
                raise ValueError(f"{where}: unknown factor {name!r}; valid: {', '.join(FACTORS)}, "
                                 "or a user factor listed under `factors:`")
        return self

    def paired_over(self) -> set[str]:
        if self.noise.paired_over is not None:
            return set(self.noise.paired_over)
        return {e.factor for e in self.effects}


_CONDITION = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|==|<|>)\s*(.+?)\s*$")


def parse_condition(text: str) -> dict:
    """'n_train_samples < 1000' -> {variable, op, value}, as a prediction's condition."""
    m = _CONDITION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not 'variable op value' (op one of < <= > >= ==)")
    variable, op, raw = m.groups()
    try:
        value: float | str = float(raw)
    except ValueError:
        value = raw.strip("'\"")
    return {"variable": variable, "op": op, "value": value}


class _Loader(yaml.SafeLoader):
    """YAML 1.2 scalars: `on` is a key, not True, and `1e-3` is a number, not a string."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789."))


def load_truth(path: str | Path) -> Truth:
    """Read and validate a truth file; raises SimTruthError naming the file and field."""
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe)
    except OSError as e:
        raise SimTruthError(f"{path}: cannot read the file: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise SimTruthError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SimTruthError(f"{path}: top level: expected a mapping with the key 'curve'")
    try:
        return Truth.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "top level"
        if first["type"] == "extra_forbidden":
            raise SimTruthError(f"{path}: {loc}: unknown key") from None
        shown = repr(first.get("input"))[:80]
        msg = first["msg"].removeprefix("Value error, ")
        raise SimTruthError(f"{path}: {loc}: {msg} (got {shown})") from None
