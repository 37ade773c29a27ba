"""What the study's LLM does besides planning, when one is configured (--llm-base-url).

- `Compiler`: the `compile_fallback` of `load_hypothesis`: a plain-text prediction the
  deterministic parser can't read becomes the structured spec, checked like one in the
  YAML (one repair round, then the usual error naming the prediction).
- `narrate`: one paragraph on the verdicts for the final report, labelled as the LLM's.
- `planner/advisor.py` builds on the helpers here for refinements and child hypotheses.

Replies are data: a spec the validators accept, and text for humans (cleaned, cut
short, escaped by each renderer). A failure costs the study nothing but the feature.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, StrictStr

from parser.hypothesis import Unreadable
from parser.metrics import now
from parser.predictions import METRICS, PredictionError
from parser.schema import NarrativeRecord, Prediction
from planner.llm import Session
from planner.prompt import ReplyError, clean_text, parse_object, shown_text, validated
from planner.space import Space

MAX_TEXT = 300
MAX_NARRATIVE = 1500
SPEC_TOKENS, NARRATIVE_TOKENS = 200, 450
SPEC_FIELDS = ("Spec fields: kind (comparison | equivalence | bound | interaction); metric; direction "
               "(lower | higher: where the arm's metric goes); factor, arm, baseline (two values of that "
               "factor); threshold (relative: 0.2 means 20%; absolute: metric units); relative (true | false); "
               "condition ({\"variable\", \"op\", \"value\"} or null: where it applies); of (an interaction: "
               "the comparison whose effect is smaller where the condition holds, else null).")


def words(text: str, limit: int = MAX_TEXT) -> str:
    """Cleaned text for humans; '' for a copy of a prompt's <placeholder> (small models echo them)."""
    text = clean_text(text, limit)
    return "" if re.fullmatch(r"<[^<>]*>?", text) else text


def space_lines(grid: dict[str, list], space: Space | None = None) -> list[str]:
    varied = {k: v for k, v in grid.items() if len(v) > 1}
    n = _sample_counts(space or Space(grid))
    return ["Factors and their values: " + "; ".join(f"{k} in {json.dumps(v)}" for k, v in varied.items()),
            "Condition variables: " + ", ".join(["n_train_samples", *grid])
            + (f" (the runs give n_train_samples in {n})" if n else ""),
            "Metrics: " + ", ".join(METRICS), SPEC_FIELDS]


def _sample_counts(space: Space) -> list[int]:
    """The training-set sizes (N) the space's configs give, where known before a run."""
    try:
        return sorted({n for point in space.points()[:1000] if (n := space.expected_value(point, "n_train_samples"))})
    except Exception:  # a dataset whose size is unknown until it is read: the prompt goes without
        return []


def spec_schema(grid: dict[str, list], comparisons: list[str], strict: bool = True) -> dict:
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
    common = {"metric": {"enum": list(METRICS)}, "direction": {"enum": ["lower", "higher"]},
              "threshold": {"type": "number", "minimum": 0}, "relative": {"type": "boolean"},
              "condition": nullable(condition)}
    if strict:
        properties = {"kind": {"enum": ["comparison", "equivalence", "bound", "interaction"]}, **common,
                      "factor": {"enum": ["", *varied]}, "arm": nullable({"enum": values}),
                      "baseline": nullable({"enum": values}), "of": nullable({"enum": comparisons or [""]})}
        return {"type": "object", "additionalProperties": False, "required": list(properties),
                "properties": properties}

    def shape(kind: str, **fields) -> dict:
        properties = {"kind": {"enum": [kind]}, **fields}
        return {"type": "object", "additionalProperties": False, "required": list(properties),
                "properties": properties}
    shapes = [shape(kind, factor={"enum": [f]}, arm={"enum": vs}, baseline={"enum": vs}, **common)
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

    def __call__(self, request: Unreadable) -> dict:
        earlier = self._from_copy(request.text)
        if earlier is not None:
            return earlier
        if self.session.blocked():
            raise PredictionError(self.session.disabled)
        comparisons = [p.id for p in request.previous if p.spec.kind == "comparison"]
        schema = {"object": spec_schema(request.space, comparisons),
                  "grammar": spec_schema(request.space, comparisons, strict=False)}
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


def _checked_spec(text: str, request: Unreadable) -> dict:
    spec = parse_object(text)
    request.check(spec)  # PredictionError (a ValueError) goes back to the model once
    return spec


def compile_messages(request: Unreadable) -> list[dict]:
    previous = [f"- {p.id} = {p.spec.text()}" for p in request.previous]
    user = [f"Prediction: {json.dumps(clean_text(request.text, 400))}",
            f"A rule-based parser could not read it: {clean_text(request.problem, 200)}",
            *space_lines(request.space),
            *(["Earlier predictions:", *previous] if previous else []),
            "Reply with the spec of this prediction as one JSON object with those fields."]
    system = ("You translate a prediction about ML experiments into a JSON spec that a program "
              "checks against the results. Use only the factors, values and metrics listed.")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(user)}]


def verdict_line(p: Prediction, v) -> str:
    conf = "-" if v.confidence is None else f"{v.confidence:.2f}"
    effect = "" if v.effect is None else f", effect {v.effect:.3g}"
    interval = "" if not v.interval else f", 90% interval [{v.interval[0]:.3g}, {v.interval[1]:.3g}]"
    return (f"- {p.id} [{v.status}, confidence {conf}{effect}{interval}, {v.n_pairs} pairs] "
            f"{clean_text(shown_text(p), 200)}\n  = {p.spec.text()}")


# ---- (c) the narrative paragraph ---------------------------------------------------

class NarrativeReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paragraph: StrictStr


def _paragraph(text: str) -> str:
    paragraph = words(validated(NarrativeReply, parse_object(text)).paragraph, MAX_NARRATIVE)
    if len(paragraph) < 40:
        raise ReplyError("the paragraph is empty, too short or the placeholder: write three to six plain "
                         "sentences about these verdicts")
    return paragraph


def narrative_messages(study, stop_reason: str) -> list[dict]:
    lines = [verdict_line(p, study.verdicts[p.id]) for p in study.predictions]
    user = [f"Claim: {clean_text(study.hypothesis.claim, 400)}", "Verdicts:", *lines[:12],
            f"The study stopped after {len(study.records)} runs: {clean_text(stop_reason, 200)}.",
            "Confirmed and refuted need confidence past 0.9 either way and an e-value past 20; the "
            "effect is a log-ratio between the arms for relative comparisons.",
            'Reply with a JSON object whose "paragraph" is three to six plain sentences for a reader of '
            'the report: what was found, how sure it is, and what is still open.']
    system = "You summarise the outcome of a research study for its report, faithfully to the numbers given."
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(user)}]


def narrate(session: Session | None, study, stop_reason: str) -> NarrativeRecord | None:
    """Ask for the report's paragraph and log it (rejected ones too, with the reason); None offline."""
    if session is None or session.blocked():
        return None
    schema = lambda bound: {"type": "object", "additionalProperties": False,  # noqa: E731
                            "required": ["paragraph"], "properties": {"paragraph": {"type": "string", **bound}}}
    schemas = {"object": schema({"maxLength": MAX_NARRATIVE}), "grammar": schema({})}  # llama.cpp: no long maxLength
    paragraph, status, reason, tokens, _ = session.ask_valid(narrative_messages(study, stop_reason), schemas,
                                                             _paragraph, "narrative", NARRATIVE_TOKENS)
    record = NarrativeRecord(text=paragraph or "", llm=session.info(status, reason, tokens), logged_at=now())
    study.adopt(record)
    return record


# ---- wiring -------------------------------------------------------------------------

def compiler(session: Session | None, reuse: Path | None = None) -> Compiler | None:
    """load_hypothesis' compile_fallback: None without an LLM (an unreadable prediction stays an error)."""
    return Compiler(session, reuse) if session is not None else None
