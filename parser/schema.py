"""Schemas that cross a boundary, defined once: hypothesis, prediction spec, result record.

Everything that comes from outside (the hypothesis YAML, metrics files, log lines)
is validated here with `extra="forbid"`, so a typo is an error that names the field.
"""
from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = Union[bool, int, float, str, None]
Op = Literal["<", "<=", ">", ">=", "=="]
# Why a run did not complete (None for a completed one); see executor/base.py `cause_of`.
Cause = Literal["exception", "error", "diverged", "timeout", "crash", "killed", "oom", "start_failed",
                "metrics_missing", "metrics_malformed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(Strict):
    """Where a prediction applies, e.g. `n_train_samples < 5000` or `learning_rate == 1e-4`."""

    variable: str
    op: Op
    value: Union[float, str]

    def holds(self, value: Any) -> bool:
        if value is None:
            return False
        if self.op == "==":
            return value == self.value
        if isinstance(value, str) or isinstance(self.value, str):
            return False
        return {"<": value < self.value, "<=": value <= self.value,
                ">": value > self.value, ">=": value >= self.value}[self.op]

    def text(self) -> str:
        return f"{self.variable} {self.op} {self.value:g}" if isinstance(self.value, float) \
            else f"{self.variable} {self.op} {self.value}"


INTERACTION_MARGIN = 0.05  # an interaction on a relative effect with no margin given: 5%


class PredictionSpec(Strict):
    """A machine-checkable prediction.

    comparison: the metric of `arm` vs `baseline` (same seed, same everything else),
      in the given `direction`, by more than `threshold` (relative: a fraction, so 0.2
      means 20%; absolute: in the metric's units), restricted to `condition`.
    interaction: the effect of the comparison named by `of` is smaller where
      `condition` holds than where that comparison's own condition holds, by more than
      the practical margin `threshold` (relative: the effect's ratio moves by more than
      that fraction, 0 meaning INTERACTION_MARGIN; absolute: in the metric's units), so
      an effect that did not change is refuted, not left open.
    bound: the metric's mean over seeds is below (`lower`) or above (`higher`) the
      absolute value `threshold`, for runs with `factor` = `arm` if a factor is given.
    equivalence: no practical difference: the paired ratio of `arm` to `baseline`
      stays within 1/(1 + `threshold`) .. 1 + `threshold` (relative: symmetric on the
      log scale) or the difference within +/- `threshold` (absolute).
    target: convergence speed only (metric steps_to_target): the val loss whose first
      crossing counts, as written in the prediction ("reaches val loss 2.0 20% sooner").
      Without it each design cell's first pair sets its own (`parser.checker.pairs`).
      An interaction reads its comparison's pairs, and so its target.
    """

    kind: Literal["comparison", "interaction", "bound", "equivalence"] = "comparison"
    metric: str = "final_val_loss"
    direction: Literal["lower", "higher"] = "lower"
    factor: str = ""
    arm: Scalar = None
    baseline: Scalar = None
    threshold: float = Field(0.0, ge=0.0)
    relative: bool = True
    condition: Condition | None = None
    of: str | None = None  # interaction: id of the comparison it qualifies
    target: float | None = Field(None, gt=0.0, allow_inf_nan=False)  # steps_to_target's val loss

    @model_validator(mode="after")
    def _complete(self) -> "PredictionSpec":
        if self.kind in ("comparison", "equivalence"):
            missing = [k for k in ("factor", "arm", "baseline") if getattr(self, k) in ("", None)]
            if missing:
                raise ValueError(f"a{'n' if self.kind[0] == 'e' else ''} {self.kind} needs {', '.join(missing)}")
        if self.kind == "equivalence" and not self.threshold > 0:
            raise ValueError("an equivalence needs a margin: threshold > 0")
        if self.kind == "bound" and self.factor and self.arm is None:
            raise ValueError(f"a bound restricted to factor {self.factor!r} needs the arm (its value)")
        if self.kind == "comparison" and self.relative and self.threshold >= 1.0 and self.direction == "lower":
            raise ValueError(f"relative threshold {self.threshold} must be below 1 for 'lower'")
        if self.kind == "interaction" and self.condition is None:
            raise ValueError("an interaction needs a condition (where the effect is smaller)")
        return self

    @field_validator("target")
    @classmethod
    def _speed_only(cls, target: float | None, info) -> float | None:
        kind, metric = info.data.get("kind"), info.data.get("metric")
        if target is not None and (metric != "steps_to_target" or kind == "bound"):
            raise ValueError(f"a written loss target ({target:g}) belongs to a convergence-speed prediction, "
                             f"metric steps_to_target; this is a {kind} of {metric}")
        return target

    def metric_name(self) -> str:
        """The metric as the prediction says it: 'steps to val loss 2.0' with a written target."""
        return f"steps to val loss {self.target}" if self.target is not None else self.metric

    def _of(self, value: Scalar) -> str:
        """The metric of one arm in a rule: steps_to_target[pre], steps to val loss 2.0 [pre]."""
        return f"{self.metric_name()} [{value}]" if self.target is not None else f"{self.metric}[{value}]"

    def margin(self) -> float:
        """An interaction's practical margin (a fraction, or metric units): `threshold`, else
        INTERACTION_MARGIN for a relative effect."""
        return self.threshold or (INTERACTION_MARGIN if self.relative else 0.0)

    def text(self) -> str:
        """The exact definition, shown to the user beside their own words."""
        where = f" where {self.condition.text()}" if self.condition else ""
        if self.kind == "interaction":
            m = self.margin()
            by = (f" by more than {100 * m:g}% (its ratio moves by a factor > {1 + m:.3g})" if self.relative
                  else f" by more than {m:g} ({self.metric})")
            return f"effect of {self.of} is smaller where {self.condition.text()}{by}"
        if self.kind == "bound":
            arm = f" with {self.factor} = {self.arm}" if self.factor else ""
            op = "<" if self.direction == "lower" else ">"
            return f"mean {self.metric} over seeds {op} {self.threshold:g}{arm}{where}"
        if self.kind == "equivalence":
            if self.relative:
                rule = (f"{1 / (1 + self.threshold):.3g} < {self._of(self.arm)} / "
                        f"{self._of(self.baseline)} < {1 + self.threshold:.3g}")
            else:
                rule = (f"|{self._of(self.arm)} - {self._of(self.baseline)}| "
                        f"< {self.threshold:g}")
            return f"{rule} (paired by seed, across {self.factor}){where}"
        if self.relative:
            bound = 1 - self.threshold if self.direction == "lower" else 1 + self.threshold
            rule = f"{self._of(self.arm)} / {self._of(self.baseline)} " + \
                   ("<" if self.direction == "lower" else ">") + f" {bound:.3g}"
        else:
            sign = "-" if self.direction == "lower" else "+"
            rule = f"{self._of(self.arm)} - {self._of(self.baseline)} " + \
                   ("<" if self.direction == "lower" else ">") + f" {sign}{self.threshold:g}"
        return f"{rule} (paired by seed, across {self.factor}){where}"


class Prediction(Strict):
    id: str
    text: str
    spec: PredictionSpec
    compiled_by: Literal["structured", "parser", "llm", "evolution"] = "parser"
    # evolution: the prediction it refines, why, and the run after which it was made.
    # Its evidence counts only runs after that one: a bound chosen from data is
    # never confirmed by the same data.
    parent: str | None = None
    reason: str = ""
    after: str | None = None


class Hypothesis(Strict):
    id: str = "H1"
    claim: str = Field(min_length=1)
    predictions: list[Prediction] = Field(min_length=1)
    initial_config: dict[str, Union[Scalar, list[Scalar]]]
    metrics: list[str] = []  # names the user's script reports, beside the built-in trainer's
    plugins: list[str] = []  # as loaded (absolute paths, module names): every training process loads them
    # factors given as {low, high, ...}: the range (parser/ranges.py); initial_config holds its starting values
    ranges: dict[str, dict] = {}
    parent: str | None = None
    reason: str = ""  # a child hypothesis: the evidence that spawned it
    after: str | None = None

    @field_validator("initial_config")
    @classmethod
    def _no_empty_lists(cls, config: dict) -> dict:
        for key, value in config.items():
            if isinstance(value, list) and not value:
                raise ValueError(f"initial_config.{key} is an empty list")
        return config


class Metrics(BaseModel):
    """A metrics file from a training run: final_val_loss where the run reports a val loss
    (a script of the user's may report only its own numbers); the rest is kept, and any
    number in it (val_acc, ...) may be named by a prediction. A number that is not
    finite (NaN, inf) is kept as null: no prediction reads it."""

    model_config = ConfigDict(extra="allow")
    final_val_loss: float | None = None
    val_curve: list[tuple[float, float]] = []
    train_time_s: float | None = None
    n_train_samples: int | None = None

    @field_validator("final_val_loss")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"final_val_loss is {value}, not a finite number")
        return value

    @model_validator(mode="after")
    def _finite_extras(self) -> "Metrics":
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
                self.model_extra[key] = None
        return self


class LLMInfo(Strict):
    """What one LLM task cost and how it went: on a run planned with an LLM, an evolution
    proposal, the narrative. The totals run over the whole study (resumed sessions too)."""

    status: Literal["accepted", "repaired", "replaced", "rejected"]
    reason: str | None = None  # the repaired error, or why the reply was replaced / rejected
    tokens: int = Field(0, ge=0)  # spent on this task (both rounds of a repair)
    study_tokens: int = Field(0, ge=0)
    calls: int = Field(0, ge=0)


class ResultRecord(Strict):
    """One line of research_log.jsonl: a finished run, whatever its outcome."""

    record: Literal["experiment"] = "experiment"
    experiment_id: str
    hypothesis_id: str
    config: dict[str, Scalar]
    config_hash: str
    seed: int
    status: Literal["completed", "failed", "timeout"]
    cause: Cause | None = None
    metrics: dict[str, Any] | None = None
    error: str | None = None
    stderr_tail: str | None = None
    returncode: int | None = None
    wall_time_s: float = 0.0
    # compute spent: the run's training seconds (its metrics' train_time_s; a failed run's
    # wall time) and steps trained; stopped_early: it ended at its convergence target
    train_time_s: float | None = None
    steps: int | None = None
    stopped_early: bool = False
    attempts: int = 1  # > 1: the backend resubmitted the run after losing it with its machine (ray)
    # the user's script that ran: command, workdir, git commit and dirty flag or a files hash
    script: dict[str, Any] | None = None
    planner: str = "offline"
    rationale: str = ""
    targets: list[str] = []
    pair: str | None = None  # experiment id of the other arm of the comparison
    llm: LLMInfo | None = None  # planned with an LLM: accepted, repaired or replaced, and the tokens
    started_at: str = ""
    finished_at: str = ""
    git_commit: str | None = None
    versions: dict[str, str] = {}
    dataset_sha256: str | None = None


class StopRecord(Strict):
    """The log's last word for a study session: why the loop stopped."""

    record: Literal["stop"] = "stop"
    reason: str
    n_experiments: int
    finished_at: str


class EvolutionRecord(Strict):
    """An LLM's proposal after `trigger` was decided: a refinement (`prediction`) or a child
    hypothesis, accepted (folded into the study on replay, where it was logged), rejected
    (with the reason and what was proposed) or declined (the model proposed nothing)."""

    record: Literal["evolution"] = "evolution"
    status: Literal["accepted", "rejected", "declined"]
    trigger: str
    after: str | None = None
    prediction: Prediction | None = None
    hypothesis: Hypothesis | None = None
    reason: str = ""
    proposed: str = ""
    llm: LLMInfo
    logged_at: str = ""

    @model_validator(mode="after")
    def _one_change(self) -> "EvolutionRecord":
        if self.status == "accepted" and (self.prediction is None) == (self.hypothesis is None):
            raise ValueError("an accepted evolution holds exactly one of prediction, hypothesis")
        return self


class NarrativeRecord(Strict):
    """The LLM's paragraph for the final report (empty when it was rejected, with the reason)."""

    record: Literal["narrative"] = "narrative"
    text: str = ""
    llm: LLMInfo
    logged_at: str = ""
