"""What the LLM planner sees and what it may answer: the prompt, the reply schema, validation.

The reply is data, never code. It may pick an offered candidate by index, or name a
design point whose every value is one of the search space's own values (the value
that runs is the grid's object, not the model's), plus a seed and some text. The
text is cleaned and cut short; it goes to the log for humans and never back into a
prompt, so an injection in one reply cannot steer the next call.
"""
from __future__ import annotations

import json
import math
import re
from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from run_config import FACTORS
from parser.checker.regions import source_spec
from parser.design import run_key
from parser.schema import Prediction, ResultRecord
from planner.offline import Candidate
from planner.space import Space

MAX_PROMPT_CHARS = 6000  # ~1,500 tokens at ~4 characters a token
MAX_RATIONALE = 500
MAX_SEED = 10**6
TRAJECTORY_ROWS = 10
SYSTEM = ("You plan the next experiment of a research study. Choose the run most likely to "
          "settle the open predictions. Reply with one JSON object only, no other text.")
Value = Union[StrictBool, StrictInt, StrictFloat, StrictStr]


class ReplyError(ValueError):
    """A reply that cannot run; its message goes back to the model in the repair round."""


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidate: Optional[StrictInt] = None
    config: Optional[dict[str, Value]] = None
    seed: Optional[StrictInt] = None
    targets: list[StrictStr] = []
    rationale: StrictStr = ""


def varied(space: Space) -> list[str]:
    """Factors with more than one value: the ones a reply has to choose."""
    return [k for k, v in space.grid.items() if len(v) > 1]


def reply_schema(space: Space, n_candidates: int, open_ids: list[str] | None = None,
                 grammar: bool = False) -> dict:
    """JSON schema for structured output; the enums already hold the model to the space
    (and, where the server enforces the schema as a grammar, to the open predictions)."""
    config = {"type": "object", "additionalProperties": False, "required": varied(space),
              "properties": {k: _allowed(space, k) for k in varied(space)}}
    common = {"targets": {"type": "array", "minItems": 1,
                          "items": {"enum": open_ids} if open_ids else {"type": "string"}},
              "rationale": {"type": "string", "maxLength": MAX_RATIONALE}}
    if not grammar:  # OpenAI-style structured output wants one root object
        nullable = lambda x: {"anyOf": [x, {"type": "null"}]}  # noqa: E731
        return {"type": "object", "additionalProperties": False,
                "required": ["candidate", "config", "seed", "targets", "rationale"],
                "properties": {"candidate": nullable({"type": "integer", "minimum": 0,
                                                      "maximum": max(n_candidates - 1, 0)}),
                               "config": nullable(config),
                               "seed": nullable({"type": "integer", "minimum": 0, "maximum": MAX_SEED - 1}),
                               **common}}
    # a grammar (llama.cpp) takes one of two whole shapes, so a reply can't mix them
    pick = {"type": "object", "additionalProperties": False,
            "required": ["candidate", "targets", "rationale"],
            "properties": {"candidate": {"type": "integer", "minimum": 0,
                                         "maximum": max(n_candidates - 1, 0)}, **common}}
    own = {"type": "object", "additionalProperties": False,
           "required": ["config", "seed", "targets", "rationale"],
           "properties": {"config": config, "seed": {"type": "integer", "minimum": 0,
                                                     "maximum": MAX_SEED - 1}, **common}}
    return {"anyOf": [pick, own]} if n_candidates else own


def _allowed(space: Space, factor: str) -> dict:
    """A list factor's values as an enum; a range factor's bounds (any value inside it)."""
    span = space.ranges.get(factor)
    if span is None:
        return {"enum": list(space.grid[factor])}
    return {"type": "integer" if span.integer else "number", "minimum": span.low, "maximum": span.high}


def _space_line(space: Space, factor: str) -> str:
    span = space.ranges.get(factor)
    if span is None:
        return f"{factor} in {json.dumps(space.grid[factor])}"
    return f"{factor}: any value in the range {span.text()} (run so far: {json.dumps(space.grid[factor])})"


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _conf(c) -> str:
    return "-" if c is None else f"{c:.2f}"


def build_messages(claim: str, predictions: list[Prediction], verdicts: dict, records: list[ResultRecord],
                   candidates: list[Candidate], space: Space) -> list[dict]:
    """System and user messages, trimmed (oldest runs first) to fit MAX_PROMPT_CHARS."""
    for rows in range(TRAJECTORY_ROWS, -1, -1):
        user = _user(claim, predictions, verdicts, records[-rows:] if rows else [], candidates, space)
        if len(SYSTEM) + len(user) <= MAX_PROMPT_CHARS:
            break
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user[:MAX_PROMPT_CHARS]}]


def shown_metrics(predictions) -> list[str]:
    """final_val_loss, then each other metric a prediction reads (val_acc, a user's own)."""
    names = ["final_val_loss", *(p.spec.metric for p in predictions)]
    return [m for m in dict.fromkeys(names) if m != "steps_to_target"]


def _metric(metrics: dict | None, name: str) -> str:
    value = (metrics or {}).get(name)
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _user(claim, predictions, verdicts, records, candidates, space) -> str:
    keys = varied(space)
    lines = [f"Claim: {clean_text(claim, 400)}", "Predictions:"]
    for p in predictions:
        v = verdicts[p.id]
        lines.append(f"- {p.id} [{v.status}, confidence {_conf(v.confidence)}] {clean_text(shown_text(p), 200)}\n"
                     f"  = {clean_text(p.spec.text(), 300)}")
    lines.append("Search space (the only values allowed): " + "; ".join(_space_line(space, k) for k in keys))
    names = shown_metrics(predictions)
    lines.append(f"Last {len(records)} runs (id: factors, seed, status, {', '.join(names)}):")
    for r in records:
        factors = ", ".join(f"{k}={_fmt(r.config.get(k))}" for k in keys)
        values = ", ".join(_metric(r.metrics, m) for m in names)
        lines.append(f"- {r.experiment_id}: {factors}, seed {r.seed}, {r.status}, {values}")
    lines.append("Candidates ranked by expected information gain per second:")
    for i, c in enumerate(candidates):
        arms = ", ".join(f"{k}=" + " vs ".join(_fmt(run[k]) for run in c.runs)
                         if len({str(run[k]) for run in c.runs}) > 1 else f"{k}={_fmt(c.runs[0][k])}" for k in keys)
        lines.append(f"{i}: {arms}; seed {c.runs[0]['seed']}; gain {c.gain:.3f} bits, "
                     f"cost {c.cost:.1f} s; informs {', '.join(c.targets)}")
    lines.append('Reply {"candidate": <index>, "config": null, "seed": null, "targets": [ids], '
                 '"rationale": "<why, one sentence>"}, or, for a run not listed, "candidate": null '
                 'with "config": {factor: value for ' + ", ".join(keys) + '} and a new "seed".')
    return "\n".join(lines)


def parse_object(text: str) -> dict:
    """The JSON object in a reply (a code fence around it is tolerated); finite numbers only."""
    def finite(token: str):
        value = float(token)
        if not math.isfinite(value) or len(token.lstrip("-")) > 30:
            raise ValueError(f"{token[:40]} is not a usable number")
        return int(token) if token.lstrip("-").isdigit() else value

    def load(raw: str):
        return json.loads(raw, parse_constant=finite, parse_float=finite, parse_int=finite)

    text = (text or "").strip()
    try:
        try:
            data = load(text)
        except json.JSONDecodeError:  # prose or a fence around the object: take the object
            found = re.search(r"\{.*\}", text, re.S)
            data = load(found.group(0) if found else text)
    except (ValueError, RecursionError) as e:
        raise ReplyError(f"the reply is not a JSON object: {str(e)[:120]}") from None
    if not isinstance(data, dict):
        raise ReplyError("the reply is not a JSON object")
    return data


def validated(model: type[BaseModel], data: dict):
    """`model` of the reply, or a ReplyError naming each bad field and value (for the repair round)."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'reply'}: {x['msg']} (got {str(x.get('input'))[:60]!r})"
                             for x in e.errors()[:4])
        raise ReplyError(f"invalid reply: {problems}") from None


def parse_reply(text: str) -> Reply:
    """The planning reply in `text`, checked by pydantic (`parse_object`, `validated`)."""
    return validated(Reply, parse_object(text))


def shown_text(p: Prediction) -> str:
    """A prediction's words for a prompt: the LLM's own words (an evolution it proposed) never
    go back into a prompt, only the checked definition does."""
    return p.spec.text() if p.compiled_by == "llm" and p.parent else p.text


def clean_text(text: str, limit: int = MAX_RATIONALE) -> str:
    """Printable text only, whitespace collapsed, cut to `limit` characters."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return " ".join(text.split())[:limit]


def grid_value(space: Space, factor: str, value):
    """The grid's own value equal to `value` (same kind: bool, number, string), or, for a range
    factor, `value` inside the range (snapped to it); else ReplyError."""
    for option in space.grid[factor]:
        if isinstance(option, bool) or isinstance(value, bool):
            if option is value:
                return option
        elif isinstance(option, (int, float)) and isinstance(value, (int, float)):
            if math.isfinite(value) and math.isclose(option, value, rel_tol=1e-9):
                return option
        elif isinstance(option, str) and isinstance(value, str) and option == value:
            return option
    span = space.ranges.get(factor)
    if span is not None:
        inside = space.in_range(factor, value)
        if inside is not None:
            return inside
        raise ReplyError(f"config.{factor} = {str(value)[:60]!r} is outside its range {span.text()}")
    raise ReplyError(f"config.{factor} = {str(value)[:60]!r} is not in the space; "
                     f"choose one of {space.grid[factor]}")


def runs_from_reply(reply: Reply, candidates: list[Candidate], open_: list[Prediction],
                    by_id: dict[str, Prediction], records: list[ResultRecord], space: Space,
                    pending: tuple[dict, ...] = ()):
    """(runs, targets, what) for a valid reply; ReplyError naming the field otherwise.
    `pending`: runs in flight (--workers), which count as already run."""
    if (reply.candidate is None) == (reply.config is None):
        raise ReplyError("give exactly one of candidate (an index) or config (a design point)")
    if reply.candidate is not None:
        if not 0 <= reply.candidate < len(candidates):
            raise ReplyError(f"candidate {reply.candidate} is not an index 0..{len(candidates) - 1}")
        chosen = candidates[reply.candidate]
        return [dict(r) for r in chosen.runs], list(chosen.targets), f"candidate {reply.candidate}"
    open_ids = [p.id for p in open_]
    targets = [t for t in reply.targets if t in open_ids]
    if not targets or len(targets) != len(reply.targets):
        raise ReplyError(f"targets {[clean_text(t, 40) for t in reply.targets]} must name open predictions: {open_ids}")
    if reply.seed is None or not 0 <= reply.seed < MAX_SEED:
        raise ReplyError(f"seed must be an integer 0..{MAX_SEED - 1}, got {str(reply.seed)[:40]}")
    runs = _design(reply, by_id[targets[0]], by_id, space)
    ran = {run_key(r.config) for r in records} | {run_key(p) for p in pending}
    if any(run_key(run) in ran for run in runs):
        raise ReplyError(f"that config with seed {reply.seed} has already run or is running; "
                         f"pick a new seed or config")
    return runs, targets, "own config"


def _design(reply: Reply, target: Prediction, by_id: dict, space: Space) -> list[dict]:
    """Full design points from the reply: both arms of the compared factor with one seed."""
    unknown = [k for k in reply.config if k not in space.grid]
    if unknown:
        raise ReplyError(f"config keys {[clean_text(k, 40) for k in unknown]} are not factors of the space; "
                         f"valid: {varied(space)}")
    chosen = {k: grid_value(space, k, v) for k, v in reply.config.items()}
    spec = source_spec(target, by_id)
    compared = spec.factor if target.spec.kind != "bound" else ""
    missing = [k for k in varied(space) if k not in chosen and k != compared]
    if missing:
        raise ReplyError(f"config is missing {missing}")
    base = {k: chosen.get(k, space.grid[k][0]) for k in space.grid}
    base.update((k, space.values(k)[0]) for k in FACTORS if k not in base)
    if not compared:
        return [dict(base, seed=reply.seed)]
    arms = [grid_value(space, compared, a) for a in (spec.arm, spec.baseline)]
    return [dict(base, **{compared: a, "seed": reply.seed}) for a in arms]
