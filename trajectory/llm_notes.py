"""What the study's LLM did, from the log alone: tokens, calls, outcomes, the narrative.

None when no LLM took part, so an offline study's reports carry no LLM section at all.
"""
from __future__ import annotations

from collections import Counter

from parser import log
from parser.schema import EvolutionRecord, NarrativeRecord, ResultRecord


def proposals(runs: list[ResultRecord]) -> list:
    """The LLM info of each planned proposal: the two arms of a pair carry one proposal's info."""
    order = {r.experiment_id: i for i, r in enumerate(runs)}
    by_id = {r.experiment_id: r for r in runs}
    out = []
    for i, r in enumerate(runs):
        partner = by_id.get(r.pair or "")
        if r.llm is None or (partner is not None and order[partner.experiment_id] < i and partner.llm == r.llm):
            continue
        out.append(r.llm)
    return out


def narrative(records: list) -> NarrativeRecord | None:
    """The last narrative, if nothing that changes the verdicts was logged after it."""
    for r in reversed(records):
        if isinstance(r, NarrativeRecord):
            return r
        if isinstance(r, (ResultRecord, EvolutionRecord)):
            return None
    return None


def summary(records: list, graph: dict) -> dict | None:
    runs = log.experiments(records)
    planned = proposals(runs)
    evolutions = [r for r in records if isinstance(r, EvolutionRecord)]
    compiled = [p["id"] for p in graph["predictions"] if p["compiled_by"] == "llm" and not p.get("parent")]
    story = narrative(records)
    if not (planned or evolutions or compiled or any(isinstance(r, NarrativeRecord) for r in records)):
        return None
    tokens, calls = log.llm_totals(records)
    planner = Counter(i.status for i in planned)
    outcomes = Counter(r.status for r in evolutions)
    return {"tokens": tokens, "calls": calls, "compiled": compiled,
            "planner": {k: planner[k] for k in ("accepted", "repaired", "replaced")},
            "evolution": {k: outcomes[k] for k in ("accepted", "rejected", "declined")},
            "proposals": [{"trigger": r.trigger, "after": r.after, "status": r.status, "reason": r.reason,
                           "proposed": r.proposed} for r in evolutions if r.status != "accepted"],
            "narrative": story.text if story and story.text else None,
            "narrative_status": None if story is None else (story.llm.reason if not story.text else "written")}


def accounting_line(notes: dict) -> str:
    p, e = notes["planner"], notes["evolution"]
    parts = [f"LLM use: {notes['calls']} calls, {notes['tokens']} tokens in all.",
             f"Planner proposals: {p['accepted']} accepted, {p['repaired']} repaired, "
             f"{p['replaced']} replaced by the offline choice."]
    if notes["compiled"]:
        parts.append(f"Compiled by the LLM from their text: {', '.join(notes['compiled'])}.")
    if any(e.values()):
        parts.append(f"Evolution proposals: {e['accepted']} accepted, {e['rejected']} rejected, "
                     f"{e['declined']} declined.")
    status = notes["narrative_status"]
    if status and status != "written":
        parts.append(f"No narrative: {status}.")
    return " ".join(parts)
