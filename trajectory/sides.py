"""Which side an e-value is for, in the prediction's own terms: the one wording every output uses.

An e-value alone ("e-value 1.24e+03") reads as strong evidence for the claim, yet the
checker's `Verdict.evidence` is the e-value of the side its posterior favours
(`parser.checker.verdicts.judge`): the claim's side while the confidence is at least
0.5, the other side below. The claim's side, per kind, in `trajectory.effects` terms:

  comparison:   the ratio (difference) past its threshold            "ratio < 0.80"
  equivalence:  inside the margin (TOST: the smaller of the two
                one-sided e-values); the other side is outside it,
                on either end (the larger of the two)               "ratio within [0.952, 1.050]"
  bound:        the metric's mean past the bound                    "mean final_val_loss < 2.5"
  interaction:  the effect weaker in the second region by more than
                its margin (along a declared range: the line's
                change across it)                                    "effect weaker by > 1.05× where N > 2000"

and the other side is the negation ("ratio ≥ 0.80"). Every rendering prints `phrase`'s
text: "e-value 39.8 against the claim (ratio ≥ 0.50)".
"""
from __future__ import annotations

from parser.schema import PredictionSpec
from trajectory import effects

FOR, AGAINST = "for the claim", "against the claim"
_OTHER = {"<": "≥", ">": "≤", "≤": ">", "≥": "<", "within": "outside"}


def favours_claim(confidence: float) -> bool:
    """Whether the verdict's e-value is the claim's side: `judge` takes the side its posterior favours."""
    return confidence >= 0.5


def negated(needs: str) -> str:
    """The other side of a rule as `trajectory.effects` writes it: '< 0.80' -> '≥ 0.80'."""
    op, _, rest = needs.partition(" ")
    return f"{_OTHER.get(op, 'not ' + op)} {rest}"


def rule(spec: PredictionSpec, source: PredictionSpec | None = None, for_claim: bool = True) -> str:
    """One side in the prediction's terms: the claim's ('ratio < 0.80', 'effect weaker by > 1.05×
    where N > 2000') or the other ('ratio ≥ 0.80'). `source`: an interaction's comparison."""
    side = (lambda needs: needs) if for_claim else negated
    if spec.kind == "bound":
        return f"mean {spec.metric} {side(effects.bound(spec, 0.0, (0.0, 0.0)).needs)}"
    if spec.kind == "interaction":
        source = source or spec
        needs = effects.weaker(source, 0.0, (0.0, 0.0), spec.margin()).needs
        return f"effect weaker by {side(needs)} where {effects.regions(spec, source)[1]}"
    subject = "ratio" if spec.relative else "difference"
    needs = effects.equivalence_needs(spec) if spec.kind == "equivalence" else effects.comparison_needs(spec)
    return f"{subject} {side(needs)}"


def phrase(value: float, for_claim: bool, terms: str | None = None) -> str:
    """'e-value 39.8 against the claim (ratio ≥ 0.50)': `terms` is that side's `rule`; without it, the side alone."""
    return f"e-value {value:.3g} {FOR if for_claim else AGAINST}" + (f" ({terms})" if terms else "")


def evidence_for(value: float, what: str) -> str:
    """An e-value that is not a verdict's (evolution's own tests): 'e-value 24 for ratio < 1.00'."""
    return f"e-value {value:.3g} for {what}"


def of_verdict(spec: PredictionSpec | None, source: PredictionSpec | None, verdict) -> dict | None:
    """A verdict's e-value with its side, for trajectory.json and every rendering; None without one."""
    if verdict.evidence is None or verdict.confidence is None:
        return None
    on_claim = favours_claim(verdict.confidence)
    terms = rule(spec, source, on_claim) if spec is not None else None
    return {"value": verdict.evidence, "side": "for" if on_claim else "against", "rule": terms,
            "text": phrase(verdict.evidence, on_claim, terms)}


def shown(p: dict) -> str | None:
    """The text of a trajectory.json prediction's e-value (`findings.finding` put it there); None without one."""
    found = (p.get("found") or {}).get("evidence")
    return found["text"] if found else None
