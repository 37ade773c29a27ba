"""Hypothesis YAML -> validated `Hypothesis`.

Every error names the file, the field path and the bad value, because the user's
only way to fix a hypothesis is to edit that file:
    hypothesis.yaml: hypothesis.initial_config.n_layer: expected an int, got 2.5
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from models import plugins as plugin_loader
from run_config import RunSpec
from parser import run_spec
from parser.compile import compile_all
from parser.factors import FactorError, ranges_of, show, typed_config
from parser.prediction_error import METRICS, PredictionError, format_loc
from parser.schema import Hypothesis, Prediction, PredictionSpec
from parser.structured import structured_prediction

# A run directory is named after the hypothesis: no separators, no leading dot, so
# `runs/<name>/` can never point outside `runs/`.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class HypothesisError(Exception):
    """A hypothesis file that cannot be used; the message names file, field and value."""


class _Body(BaseModel):
    """The raw shape under `hypothesis:`; values are typed afterwards (parser/factors.py)."""

    model_config = ConfigDict(extra="forbid")
    claim: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]
    predictions: list[Any] = Field(min_length=1)
    initial_config: dict[Any, Any]
    metrics: list[Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]] = []
    plugins: list[Annotated[str, StringConstraints(strict=True, min_length=1, max_length=4096)]] = []
    id: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)] = "H1"
    name: Annotated[str, StringConstraints(strict=True, pattern=NAME_PATTERN)] | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hypothesis: _Body
    run: Any = None  # how the user's own script runs: parser/run_spec.py checks it


@dataclass
class CompileRequest:
    """A plain-text prediction the parser cannot read, as `compile_fallback` gets it."""

    text: str
    pid: str
    problem: str  # the parser's reason, one line
    space: dict[str, list]
    previous: list[Prediction]
    metrics: tuple[str, ...] = METRICS

    def check(self, spec: Any) -> Prediction:
        """`spec` validated as the structured form in a YAML file would be; PredictionError if not."""
        prediction = check_prediction({"text": self.text, "spec": spec, "compiled_by": "llm"},
                                      self.pid, self.space, self.previous)
        if prediction.spec.metric not in self.metrics:
            raise PredictionError(f"metric {prediction.spec.metric!r} is not one of {', '.join(self.metrics)}",
                                  field="spec.metric")
        return prediction


def check_prediction(item: dict, pid: str, space: dict[str, list], previous: list[Prediction]) -> Prediction:
    """A structured prediction validated exactly as one written in the YAML; PredictionError if not."""
    prediction = structured_prediction(item, pid, space, previous)
    problem = _prediction_problem(prediction, space)
    if problem:
        raise PredictionError(problem)
    return prediction


def load_hypothesis(path: str | Path, overrides: list[str] | None = None,
                    compile_fallback: Callable[[CompileRequest], Any] | None = None,
                    builtin: bool = True, plugins: list[str] = (), run: RunSpec | None = None) -> Hypothesis:
    """Read, validate and compile a hypothesis file; raises HypothesisError.

    `overrides` are `KEY=VALUE` strings (the CLI's --set) that replace or add
    initial_config entries before validation; VALUE is read as YAML (`[a, b]` is a list).
    `compile_fallback` (the LLM, when one is configured) gets each prediction the
    parser cannot read and returns a structured spec, which is validated here like
    any spec in the file; without it such a prediction is an error.
    `builtin`: the built-in trainer runs the study (else the user's own code: any model,
    dataset and factor). `plugins` (the CLI's --plugin) load before the file's `plugins:`.
    `run`: the user's script (parser/run_spec.py), checked against the declared factors;
    its stdout pattern's groups are metrics a prediction may name.
    """
    raw = _read_yaml(path)
    body = _validate(_File, raw, path).hypothesis
    loaded = _load_plugins(list(plugins), body.plugins, path)
    overridden = _parse_overrides(overrides or [])
    merged = {**body.initial_config, **overridden}
    try:
        spans = ranges_of(merged, set(overridden))
        config = typed_config({**merged, **{k: r.values() for k, r in spans.items()}}, set(overridden), builtin,
                              needs_model=run is None)
        if run is not None:
            run_spec.check_against(run, config, path)
    except FactorError as err:
        raise HypothesisError(f"{path}: {err}") from None
    except run_spec.RunError as err:
        raise HypothesisError(str(err)) from None
    space = config_space(config)
    listed = [*body.metrics, *run_spec.metric_names(run)]
    metrics = (*METRICS, *dict.fromkeys(m for m in listed if m not in METRICS))
    fallback = _fallback(compile_fallback, space, metrics) if compile_fallback else None
    try:
        predictions = compile_all(body.predictions, space, fallback, metrics)
    except PredictionError as err:
        field = f"hypothesis.predictions[{err.index}]" + (f".{err.field}" if err.field else "")
        raise HypothesisError(f"{path}: {field}: {err}") from None
    _check_predictions(predictions, space, path)
    fields = {"id": body.id, "claim": body.claim, "predictions": predictions, "initial_config": config,
              "metrics": list(dict.fromkeys(listed)), "plugins": loaded,
              "ranges": {k: r.model_dump() for k, r in spans.items()}}
    return _validate(Hypothesis, fields, path, prefix="hypothesis")


def _load_plugins(given: list[str], listed: list[str], path: str | Path) -> list[str]:
    """Import the plugins (CLI first, then the file's, relative to the file); their specs as
    the trainer loads them (absolute paths)."""
    try:
        plugin_loader.load_installed()  # packages' entry points: loaded wherever the trainer runs
    except plugin_loader.PluginError as err:
        raise HypothesisError(f"{path}: an installed plugin ({plugin_loader.GROUP}): {err}") from None
    specs = [(f"--plugin {p}", p, None) for p in given] + \
        [(f"hypothesis.plugins[{i}]", p, Path(path).parent) for i, p in enumerate(listed)]
    loaded = []
    for field, spec, base in specs:
        try:
            loaded += [s for s in plugin_loader.load([spec], base) if s not in loaded]
        except plugin_loader.PluginError as err:
            raise HypothesisError(f"{path}: {field}: {err}") from None
    return loaded


def _fallback(compile_fallback: Callable[[CompileRequest], Any], space: dict[str, list],
              metrics: tuple[str, ...] = METRICS):
    def compile_text(text: str, pid: str, previous: list[Prediction], err: PredictionError) -> Prediction:
        request = CompileRequest(text, pid, str(err).split("\n", 1)[0], space, previous, metrics)
        try:
            return request.check(compile_fallback(request))  # the hook's answer is data: check it here
        except Exception as why:  # noqa: BLE001 (a failing LLM is the parser's error plus its reason)
            first, _, rest = str(err).partition("\n")
            raise PredictionError(f"{first} (nor could the LLM compile it: {str(why)[:300]})"
                                  + (f"\n{rest}" if rest else "")) from None
    return compile_text


def _parse_overrides(overrides: list[str]) -> dict[str, Any]:
    parsed = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise HypothesisError(f"--set {item!r}: expected KEY=VALUE, e.g. --set max_steps=100")
        try:
            parsed[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise HypothesisError(f"--set {item!r}: the value is not valid YAML") from None
    return parsed


def effective_text(path: str | Path, overrides: list[str] | None = None,
                   hypothesis: Hypothesis | None = None, run: RunSpec | None = None) -> str:
    """The hypothesis file as run: its text, with --set overrides written in, each
    prediction the LLM compiled (in `hypothesis`) written in its structured form, so the
    run directory's copy gives the same specs without an LLM, and the script's `run:`
    section as it ran (flags written in, its workdir absolute)."""
    text = Path(path).read_text()
    compiled = {i: p for i, p in enumerate(hypothesis.predictions if hypothesis else [])
                if p.compiled_by == "llm"}
    raw = yaml.safe_load(text)
    if run is not None and raw.get("run") != run_spec.written(run):
        raw["run"] = run_spec.written(run)
    elif not overrides and not compiled and not (hypothesis and hypothesis.plugins):
        return text
    raw["hypothesis"]["initial_config"].update(_parse_overrides(overrides or []))
    if hypothesis is not None and hypothesis.plugins:  # as loaded: absolute, the CLI's too
        raw["hypothesis"]["plugins"] = list(hypothesis.plugins)
    for i, p in compiled.items():
        raw["hypothesis"]["predictions"][i] = {"text": p.text, "compiled_by": "llm", "spec": p.spec.model_dump()}
    header = ("# with --set " + " ".join(overrides) + "\n" if overrides else "") + \
        ("# compiled_by: llm marks a prediction the LLM compiled from its text; its spec is what runs\n"
         if compiled else "")
    return header + yaml.safe_dump(raw, sort_keys=False)


def search_space(h: Hypothesis) -> dict[str, list]:
    """Every configured key -> its list of typed candidate values."""
    return config_space(h.initial_config)


def config_space(config: dict[str, Any]) -> dict[str, list]:
    return {key: list(value) if isinstance(value, list) else [value] for key, value in config.items()}


def hypothesis_name(path: str | Path, raw: dict | None = None) -> str:
    """The run directory's name: `hypothesis.name`, else a slug of the file's stem.

    `raw` is the parsed file (whole, or the mapping under `hypothesis:`); None reads it.
    """
    raw = _read_yaml(path) if raw is None else raw
    body = raw.get("hypothesis", raw) if isinstance(raw, dict) else {}
    name = body.get("name") if isinstance(body, dict) else None
    if name is None:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).stem).strip("._-")[:64] or "hypothesis"
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise HypothesisError(f"{path}: hypothesis.name: {name!r} is not a safe directory name "
                              "(letters, digits, '_', '.', '-'; starts with a letter or digit; at most 64)")
    return name


# --- reading ------------------------------------------------------------------------

def _read_yaml(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HypothesisError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise HypothesisError(f"{path}: cannot read the file: {err}") from None
    try:
        return yaml.safe_load(text)  # never yaml.load: a tag must not construct objects
    except yaml.YAMLError as err:
        raise HypothesisError(f"{path}: {_yaml_problem(err, text)}") from None


def _yaml_problem(err: yaml.YAMLError, text: str) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    if mark is None:
        return f"not valid YAML: {problem}"
    lines = text.splitlines()
    line = lines[mark.line].strip() if mark.line < len(lines) else ""
    return f"line {mark.line + 1}: not valid YAML: {problem} (in {line!r})"


def _validate(model: type[BaseModel], raw: Any, path: str | Path, prefix: str = "") -> Any:
    if model is _File and not isinstance(raw, dict):
        raise HypothesisError(f"{path}: top level: expected a mapping with the key 'hypothesis', "
                              f"got {show(raw)}")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = format_loc(((prefix,) if prefix else ()) + tuple(first["loc"])) or "top level"
        if first["type"] == "extra_forbidden":
            valid = _File.model_fields if len(first["loc"]) == 1 else _Body.model_fields
            raise HypothesisError(f"{path}: {loc}: unknown key {first['loc'][-1]!r}; "
                                  f"valid keys: {', '.join(sorted(valid))}") from None
        raise HypothesisError(f"{path}: {loc}: {first['msg']} (got {show(first['input'])})") from None


# --- predictions against the space ----------------------------------------------------

def _check_predictions(predictions: list[Prediction], space: dict[str, list], path: str | Path) -> None:
    for i, prediction in enumerate(predictions):
        problem = _prediction_problem(prediction, space)
        if problem:
            raise HypothesisError(f"{path}: hypothesis.predictions[{i}]: {problem}")


def _prediction_problem(prediction: Prediction, space: dict[str, list]) -> str | None:
    spec, known = prediction.spec, ["n_train_samples", *space]
    values = [spec.threshold] + ([spec.condition.value] if spec.condition else [])
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return f"threshold and condition value must be finite numbers (got {values})"
    if spec.condition and spec.condition.variable not in known:
        return (f"condition on unknown variable {spec.condition.variable!r}; "
                f"use one of {', '.join(known)}")
    if spec.kind == "bound":
        return _bound_problem(spec, space)
    if spec.kind not in ("comparison", "equivalence"):
        return None
    # The loop can only compare arms it is allowed to run.
    if spec.factor not in space:
        return (f"compares across {spec.factor!r}, which initial_config does not set; "
                f"add e.g. {spec.factor}: [{spec.arm}, {spec.baseline}]")
    for role in ("arm", "baseline"):
        value = getattr(spec, role)
        if value not in space[spec.factor]:
            return f"{role} {value!r} is not among initial_config.{spec.factor} {space[spec.factor]}"
    if spec.arm == spec.baseline:
        return f"arm and baseline are the same value {spec.arm!r}"
    return None


def _bound_problem(spec: PredictionSpec, space: dict[str, list]) -> str | None:
    """A bound holds over all runs, or over the runs with `factor` = `arm`, which must be runnable."""
    if spec.baseline is not None:
        return f"a bound has no baseline (got {spec.baseline!r}); to compare two arms write a comparison"
    if not spec.factor:
        return None if spec.arm is None else \
            f"a bound's arm {spec.arm!r} needs its factor; add factor: <the initial_config key it is a value of>"
    if spec.factor not in space:
        return (f"a bound restricted to {spec.factor!r}, which initial_config does not set; "
                f"add e.g. {spec.factor}: [{spec.arm}]")
    if spec.arm not in space[spec.factor]:
        return f"arm {spec.arm!r} is not among initial_config.{spec.factor} {space[spec.factor]}"
    return None
