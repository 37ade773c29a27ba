"""The LLM proposing the study's evolution: refinements and child hypotheses, replayable.

After a run decides a prediction (confirmed or refuted), the evolver asks, once per
decided prediction and a few times per study, for a refinement or a child hypothesis.
The proposal is checked as a YAML spec would be, then: the space can test it
(`unreachable_reason`), it is new, it is judged only on runs after it (`after`), and
its ids are ours, not the model's. Accepted, rejected (with the reason and what was
proposed) or declined, it is logged as an `evolution` record, which the study folds on
replay exactly where it was logged, so --resume reproduces it and never asks again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, StrictStr

from parser import log
from parser.hypothesis import check_prediction
from parser.log import now
from parser.prediction_error import METRICS
from parser.schema import EvolutionRecord, Hypothesis, Prediction
from planner.llm_compile import MAX_TEXT, SPEC_TOKENS, space_lines, spec_schema, words
from planner.llm_narrate import verdict_line
from planner.llm import Session
from planner.prompt import ReplyError, clean_text, parse_object, validated
from planner.space import unreachable_reason

MAX_ADOPTED = 3  # accepted evolution proposals per study
MAX_ASKS = 6  # evolution questions per study, whatever their outcome


class EvolutionReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["refine", "child", "none"]
    claim: StrictStr = ""
    text: StrictStr = ""
    spec: Optional[dict[str, Any]] = None
    reason: StrictStr = ""


def evolution_schema(grid: dict[str, list], comparisons: list[str], strict: bool = True,
                     metrics: tuple[str, ...] = METRICS) -> dict:
    spec = spec_schema(grid, comparisons, strict, metrics)
    prose = {"type": "string", "maxLength": MAX_TEXT} if strict else {"type": "string"}  # (cut by clean_text)
    if strict:  # OpenAI-style structured output: one root object, every key present
        return {"type": "object", "additionalProperties": False,
                "required": ["action", "claim", "text", "spec", "reason"],
                "properties": {"action": {"enum": ["refine", "child", "none"]}, "claim": prose, "text": prose,
                               "spec": {"anyOf": [spec, {"type": "null"}]}, "reason": prose}}
    shape = lambda action, keys: {"type": "object", "additionalProperties": False,  # noqa: E731
                                  "required": ["action", *keys],
                                  "properties": {"action": {"enum": [action]}, "claim": prose, "text": prose,
                                                 "spec": spec, "reason": prose}}
    return {"anyOf": [shape("refine", ["text", "spec", "reason"]), shape("child", ["claim", "text", "spec", "reason"]),
                      shape("none", ["reason"])]}


@dataclass
class LLMEvolver:
    """Called by the study after each added run; proposes, checks and adopts (logs) evolutions."""

    session: Session
    claim: str = ""
    max_adopted: int = MAX_ADOPTED
    max_asks: int = MAX_ASKS

    def __call__(self, study) -> None:
        for p in list(study.predictions):
            if not self._due(study, p):
                continue
            if len(study.evolutions) >= self.max_asks or self.session.blocked() or \
                    sum(r.status == "accepted" for r in study.evolutions) >= self.max_adopted:
                return
            study.append(self.propose(study, p))

    @staticmethod
    def _due(study, p: Prediction) -> bool:
        return study.verdicts[p.id].status in ("confirmed", "refuted") and \
            all(r.trigger != p.id for r in study.evolutions)

    def propose(self, study, trigger: Prediction) -> EvolutionRecord:
        after = study.records[-1].experiment_id if study.records else None
        comparisons = [p.id for p in study.predictions if p.spec.kind == "comparison"]
        schema = {"object": evolution_schema(study.space.grid, comparisons, metrics=study_metrics(study)),
                  "grammar": evolution_schema(study.space.grid, comparisons, False, study_metrics(study))}
        found, status, reason, tokens, text = self.session.ask_valid(
            evolution_messages(self.claim, trigger, study), schema,
            lambda reply: self._check(reply, study, trigger, after), "evolution", SPEC_TOKENS + 100)
        info = self.session.info(status, reason, tokens)
        common = {"trigger": trigger.id, "after": after, "llm": info, "logged_at": now()}
        if found is None:
            return EvolutionRecord(status="rejected", reason=info["reason"] or "", proposed=clean_text(text, 600),
                                   **common)
        action, change, why = found
        if action == "none":
            return EvolutionRecord(status="declined", reason=why, proposed=clean_text(text, 600), **common)
        kind = "prediction" if isinstance(change, Prediction) else "hypothesis"
        return EvolutionRecord(status="accepted", reason=why, **{kind: change}, **common)

    def _check(self, text: str, study, trigger: Prediction, after: str | None):
        reply = validated(EvolutionReply, parse_object(text))
        why = words(reply.reason)
        if reply.action == "none":
            return "none", None, why or "the LLM proposed nothing"
        if reply.spec is None:
            raise ReplyError(f"a {reply.action} needs a spec for its prediction")
        try:
            return (reply.action, *self._change(reply, why, study, trigger, after))
        except ValueError:  # ReplyError, PredictionError, pydantic's: the model gets it in the repair
            raise
        except Exception as e:  # a proposal the checks can't digest is an invalid one
            raise ReplyError(f"cannot check the proposal: {type(e).__name__}: {clean_text(e, 120)}") from None

    def _change(self, reply: EvolutionReply, why: str, study, trigger: Prediction, after: str | None):
        predictions, verdict = study.predictions, study.verdicts[trigger.id]
        taken = {p.id for p in predictions} | {h.id for h in study.hypotheses}
        k = len(study.evolutions) + 1
        pid = _free(f"{trigger.id}.llm{k}", taken)
        reason = f"proposed by the LLM after {trigger.id} was {verdict.status}: {why or 'no reason given'}"
        item = {"text": words(reply.text), "spec": reply.spec}
        new = check_prediction(item, pid, study.space.grid, predictions)
        if new.spec.metric not in study_metrics(study):
            raise ReplyError(f"spec.metric {new.spec.metric!r} is not one of {', '.join(study_metrics(study))}")
        same = next((p.id for p in predictions if p.spec == new.spec), None)
        if same:
            raise ReplyError(f"that spec is {same}'s definition already; propose a new prediction or none")
        new = new.model_copy(update={"compiled_by": "llm", "parent": trigger.id, "after": after, "reason": reason})
        unreachable = unreachable_reason(new, {**{p.id: p for p in predictions}, pid: new}, study.space)
        if unreachable:
            raise ReplyError(f"the space cannot test it: {unreachable}")
        if reply.action == "refine":
            return new, why
        claim = words(reply.claim)
        if not claim:
            raise ReplyError("a child hypothesis needs a claim")
        owner = study.hypothesis_of(trigger.id)
        child = Hypothesis(id=_free(f"{owner}.llm{k}", taken), parent=owner, after=after, claim=claim,
                           reason=reason, predictions=[new], initial_config=study.hypothesis.initial_config)
        return child, why


def study_metrics(study) -> tuple[str, ...]:
    """The built-in trainer's metrics and those the hypothesis lists (the user's script's)."""
    return (*METRICS, *(m for m in study.hypothesis.metrics if m not in METRICS))


def _free(name: str, taken: set[str]) -> str:
    i, found = 1, name
    while found in taken:
        i += 1
        found = f"{name}-{i}"
    return found


def evolution_messages(claim: str, trigger: Prediction, study) -> list[dict]:
    others = [verdict_line(p, study.verdicts[p.id]) for p in study.predictions if p.id != trigger.id]
    user = [f"Claim: {clean_text(claim or study.hypothesis.claim, 400)}",
            "Just decided:", verdict_line(trigger, study.verdicts[trigger.id]),
            *(["Other predictions:", *others[:8]] if others else []),
            *space_lines(study.space.grid, study.space, study_metrics(study)),
            f"Runs so far: {len(study.records)}. A new prediction is judged only on runs made after now.",
            'Reply {"action": "refine", "text": "<the refined prediction in words>", "spec": {...}, '
            '"reason": "<one sentence>"} to sharpen the decided prediction (e.g. the effect size the '
            'interval supports, or a narrower region), or {"action": "child", "claim": "<a new claim>", '
            '"text": ..., "spec": {...}, "reason": ...} for a child hypothesis with one new testable '
            'prediction, or {"action": "none", "reason": ...}.']
    system = ("You review a research study whose prediction was just decided by experiments. Propose at "
              "most one follow-up that the same experiments can test. Reply with one JSON object only.")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(user)}]


def attach(session: Session | None, study) -> None:
    """Continue the study's token count from its log (a resumed study keeps one budget) and
    let the LLM propose refinements and children. Nothing without an LLM."""
    if session is None:
        return
    session.take_up(*log.llm_totals(log.replay(study.log_path)))
    study.evolver = LLMEvolver(session, study.hypothesis.claim)
