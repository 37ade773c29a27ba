"""The LLM's paragraph on the verdicts for the final report (labelled as the LLM's).

Asked once, when the study stops, when an LLM is configured (--llm-base-url); the
reply is data: one paragraph, cleaned and cut short, logged with the LLM's account.
A failure costs the study nothing but the paragraph.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictStr

from parser.log import now
from parser.schema import NarrativeRecord, Prediction
from planner.llm import Session
from planner.llm_compile import words
from planner.prompt import ReplyError, clean_text, parse_object, shown_text, validated

MAX_NARRATIVE = 1500
NARRATIVE_TOKENS = 450


def verdict_line(p: Prediction, v) -> str:
    conf = "-" if v.confidence is None else f"{v.confidence:.2f}"
    effect = "" if v.effect is None else f", effect {v.effect:.3g}"
    interval = "" if not v.interval else f", 90% interval [{v.interval[0]:.3g}, {v.interval[1]:.3g}]"
    return (f"- {p.id} [{v.status}, confidence {conf}{effect}{interval}, {v.n_pairs} pairs] "
            f"{clean_text(shown_text(p), 200)}\n  = {p.spec.text()}")


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
    study.append(record)
    return record
