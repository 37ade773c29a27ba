"""The LLM compiles a prediction the phrase parser can't read, when one is configured.

`Compiler` is the `compile_fallback` of `load_hypothesis`: a plain-text prediction the
deterministic parser can't read becomes the structured spec, checked like one in the
YAML (one repair round, then the usual error naming the prediction). The helpers here
(the space and spec schema shown to the LLM) serve `llm_evolve.py` too.

Replies are data: a spec the validators accept, and text for humans (cleaned, cut
short, escaped by each renderer). A failure costs the study nothing but the feature.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from parser.hypothesis import CompileRequest
from parser.prediction_error import METRICS, PredictionError
from planner.llm import Session
from planner.prompt import clean_text, parse_object
from planner.space import Space

MAX_TEXT = 300
SPEC_TOKENS = 200
SPEC_FIELDS = ("Spec fields: kind (comparison | equivalence | bound | interaction); metric; direction "
               "(lower | higher: where the arm's metric goes); factor, arm, baseline (two values of that "
               "factor); threshold (relative: 0.2 means 20%; absolute: metric units); relative (true | false); "
               "condition ({\"variable\", \"op\", \"value\"} or null: where it applies); of (an interaction: "
               "the comparison whose effect is smaller where the condition holds, else null); target (metric "
               "steps_to_target only: the val loss to reach when the prediction names one, as in 'reaches val "
               "loss 2.0 20% sooner'; else null, and each design cell's first pair sets it).")


def words(text: str, limit: int = MAX_TEXT) -> str:
    """Cleaned text for humans; '' for a copy of a prompt's <placeholder> (small models echo them)."""
    text = clean_text(text, limit)
    return "" if re.fullmatch(r"<[^<>]*>?", text) else text


def space_lines(grid: dict[str, list], space: Space | None = None,
                metrics: tuple[str, ...] = METRICS) -> list[str]:
    varied = {k: v for k, v in grid.items() if len(v) > 1}
    n = _sample_counts(space or Space(grid))
    return ["Factors and their values: " + "; ".join(f"{k} in {json.dumps(v)}" for k, v in varied.items()),
            "Condition variables: " + ", ".join(["n_train_samples", *grid])
            + (f" (the runs give n_train_samples in {n})" if n else ""),
            "Metrics: " + ", ".join(metrics), SPEC_FIELDS]


def _sample_counts(space: Space) -> list[int]:
    """The training-set sizes (N) the space's configs give, where known before a run."""
    try:
        return sorted({n for point in space.points()[:1000] if (n := space.expected_value(point, "n_train_samples"))})
    except Exception:  # a dataset whose size is unknown until it is read: the prompt goes without
        return []


def spec_schema(grid: dict[str, list], comparisons: list[str], strict: bool = True,
                metrics: tuple[str, ...] = METRICS) -> dict:
    """The JSON schema of a spec: enums hold the model to the space's factors, values and metrics.

    strict: one object with every key (OpenAI-style structured output). Else a grammar for
    llama.cpp: one whole shape per kind and compared factor, so even a small model's arms
    are two values of the factor it names (the validators still check everything)."""
    nullable = lambda x: {"anyOf": [x, {"type": "null"}]}  # noqa: E731
    varied = {k: list(v) for k, v in grid.items() if len(v) > 1}
    values = list({json.dumps(v): v for vs in varied.values() for v in vs}.values())
    condition = lambda variable, ops, value: {  # noqa: E731
        "type": "object", "additionalProperties": False, "required": ["variable", "op", "value"],
        "properties": {"variable": variable, "op": {"enum": ops}, "value": value}}
    if strict:
        condition = condition({"enum": ["n_train_samples", *grid]}, ["<", "<=", ">", ">=", "=="],
                              {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 40}]})
    else:  # N is a number with an order; a factor is one of its values
        condition = {"anyOf": [condition({"enum": ["n_train_samples"]}, ["<", "<=", ">", ">="], {"type": "number"}),
                               *(condition({"enum": [f]}, ["=="], {"enum": vs}) for f, vs in varied.items())]}
    common = {"metric": {"enum": list(metrics)}, "direction": {"enum": ["lower", "higher"]},
              "threshold": {"type": "number", "minimum": 0}, "relative": {"type": "boolean"},
              "condition": nullable(condition)}
    if strict:
        common["target"] = nullable({"type": "number"})  # > 0: the validators check it
        properties = {"kind": {"enum": ["comparison", "equivalence", "bound", "interaction"]}, **common,
                      "factor": {"enum": ["", *varied]}, "arm": nullable({"enum": values}),
                      "baseline": nullable({"enum": values}), "of": nullable({"enum": comparisons or [""]})}
        return {"type": "object", "additionalProperties": False, "required": list(properties),
                "properties": properties}

    def shape(kind: str, **fields) -> dict:
        properties = {"kind": {"enum": [kind]}, **fields}
        return {"type": "object", "additionalProperties": False, "required": list(properties),
                "properties": properties}
    speed = {"target": nullable({"type": "number"})}  # steps_to_target's loss to reach (> 0: the validators)
    shapes = [shape(kind, factor={"enum": [f]}, arm={"enum": vs}, baseline={"enum": vs}, **common, **speed)
              for kind in ("comparison", "equivalence") for f, vs in varied.items()]
    shapes.append(shape("bound", **common))
    if comparisons:
        shapes.append(shape("interaction", of={"enum": comparisons}, condition=condition))
    return {"anyOf": shapes}


# ---- (a) compiling a prediction the parser can't read ------------------------------

@dataclass
class Compiler:
    """`compile_fallback` for load_hypothesis. On --resume, `reuse` (the run directory's
    copy) answers first, so a resumed study gets the identical spec with no LLM call."""

    session: Session
    reuse: Path | None = None
    compiled: list[dict] = field(default_factory=list)  # per prediction: id and its LLMInfo

    def __call__(self, request: CompileRequest) -> dict:
        earlier = self._from_copy(request.text)
        if earlier is not None:
            return earlier
        if self.session.blocked():
            raise PredictionError(self.session.disabled)
        comparisons = [p.id for p in request.previous if p.spec.kind == "comparison"]
        schema = {"object": spec_schema(request.space, comparisons, metrics=request.metrics),
                  "grammar": spec_schema(request.space, comparisons, strict=False, metrics=request.metrics)}
        spec, status, reason, tokens, _ = self.session.ask_valid(
            compile_messages(request), schema, lambda text: _checked_spec(text, request), "prediction_spec",
            SPEC_TOKENS)
        self.compiled.append({"id": request.pid, **self.session.info(status, reason, tokens)})
        if spec is None:
            raise PredictionError(reason)
        return spec

    def _from_copy(self, text: str) -> dict | None:
        try:
            items = yaml.safe_load(self.reuse.read_text())["hypothesis"]["predictions"] if self.reuse else []
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            return None
        return next((item["spec"] for item in items if isinstance(item, dict)
                     and item.get("compiled_by") == "llm" and item.get("text") == text), None)


def _checked_spec(text: str, request: CompileRequest) -> dict:
    spec = parse_object(text)
    request.check(spec)  # PredictionError (a ValueError) goes back to the model once
    return spec


def compile_messages(request: CompileRequest) -> list[dict]:
    previous = [f"- {p.id} = {p.spec.text()}" for p in request.previous]
    user = [f"Prediction: {json.dumps(clean_text(request.text, 400))}",
            f"A rule-based parser could not read it: {clean_text(request.problem, 200)}",
            *space_lines(request.space, metrics=request.metrics),
            *(["Earlier predictions:", *previous] if previous else []),
            "Reply with the spec of this prediction as one JSON object with those fields."]
    system = ("You translate a prediction about ML experiments into a JSON spec that a program "
              "checks against the results. Use only the factors, values and metrics listed.")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(user)}]


def compiler(session: Session | None, reuse: Path | None = None) -> Compiler | None:
    """load_hypothesis' compile_fallback: None without an LLM (an unreadable prediction stays an error)."""
    return Compiler(session, reuse) if session is not None else None
