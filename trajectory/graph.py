"""trajectory.json: hypotheses, predictions, experiments and the edges between them.

Derived state: it is rebuilt from the hypothesis and the log, never read back as
truth, and written atomically (temp file + os.replace) so a reader or a crash
sees the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from executor.atomic import write_atomic
from parser.checker.pairs import PairIndexes
from parser.checker.verdicts import Verdict
from parser.ranges import FactorRange
from parser.schema import Hypothesis, ResultRecord
from trajectory import curves, findings

TRAJECTORY_NAME = "trajectory.json"
VERDICTS_STOP = "every prediction is decided"  # the loop's stop reason when the verdicts chose the stop


def history_entry(experiment_id: str, verdicts: dict[str, Verdict]) -> dict:
    return {"experiment_id": experiment_id,
            "confidence": {pid: v.confidence for pid, v in verdicts.items()},
            "status": {pid: v.status for pid, v in verdicts.items()}}


def build(hypotheses: list[Hypothesis], records: list[ResultRecord], verdicts: dict[str, Verdict],
          history: list[dict], stop_reason: str | None = None, indexes: PairIndexes | None = None) -> dict:
    """The trajectory; `indexes`: the writer's own reading of the log, brought up to date here
    (`findings.finding`), so that a write reads only the runs logged since the last."""
    grid = hypotheses[0].initial_config
    by_id = {p.id: p for h in hypotheses for p in h.predictions}
    varying = [k for k, v in grid.items() if isinstance(v, list) and len(v) > 1]
    seconds = findings.run_seconds(records)
    ranges = declared_ranges(hypotheses)
    shown = other_metrics(hypotheses)
    mass = curves.STOPPED_MASS if stop_reason == VERDICTS_STOP else curves.MASS
    predictions = [{
        "id": p.id, "hypothesis": h.id, "text": p.text, "spec": p.spec.model_dump(),
        "definition": p.spec.text(), "compiled_by": p.compiled_by, "parent": p.parent,
        "after": p.after, **_verdict_fields(verdicts[p.id]),
        # the result in the prediction's own terms (effect, interval, cells, what would decide it);
        # `effect` and `interval` above are the checker's internal scores
        "found": findings.finding(p, by_id, records, verdicts[p.id], varying, seconds, ranges, mass, indexes),
        # why it is untestable, else why it was made (the verdict's empty reason used to hide it)
        "reason": verdicts[p.id].reason or p.reason or None,
        "history": [{"experiment_id": e["experiment_id"], "confidence": e["confidence"].get(p.id),
                     "status": e["status"].get(p.id)} for e in history if p.id in e["status"]],
    } for h in hypotheses for p in h.predictions]
    experiments = [{
        "id": r.experiment_id, "hypothesis": r.hypothesis_id, "config_hash": r.config_hash,
        "factors": {k: r.config[k] for k in grid if k in r.config},
        "seed": r.seed, "status": r.status, "pair": r.pair, "targets": r.targets,
        "final_val_loss": (r.metrics or {}).get("final_val_loss"), "error": r.error,
        "metrics": {m: (r.metrics or {}).get(m) for m in shown},  # those predictions read, the user's own too
        "rationale": r.rationale, "train_time_s": r.train_time_s, "steps": r.steps,
        "stopped_early": r.stopped_early,
    } for r in records]
    return {"hypotheses": [{"id": h.id, "claim": h.claim, "parent": h.parent, "reason": h.reason or None,
                            "after": h.after, "initial_config": h.initial_config, "ranges": h.ranges}
                           for h in hypotheses],
            "predictions": predictions, "experiments": experiments,
            "edges": _edges(hypotheses, records), "stop_reason": stop_reason}


def declared_ranges(hypotheses: list[Hypothesis]) -> dict[str, FactorRange]:
    """The root's declared ranges, as the study's checker reads along them."""
    return {k: FactorRange(**v) for k, v in hypotheses[0].ranges.items()}


def other_metrics(hypotheses: list[Hypothesis]) -> list[str]:
    """Metrics beside final_val_loss that the study reads: the hypothesis' `metrics:` and
    each prediction's (steps_to_target is read from the curve, not a number of the run)."""
    names = [*hypotheses[0].metrics, *(p.spec.metric for h in hypotheses for p in h.predictions)]
    return [m for m in dict.fromkeys(names) if m not in ("final_val_loss", "steps_to_target")]


def _edges(hypotheses: list[Hypothesis], records: list[ResultRecord]) -> list[dict]:
    edges = [{"from": h.parent, "to": h.id, "kind": "child"} for h in hypotheses if h.parent]
    for h in hypotheses:
        edges += [{"from": h.id, "to": p.id, "kind": "predicts"} for p in h.predictions]
        edges += [{"from": p.parent, "to": p.id, "kind": "refines" if p.spec.kind != "interaction"
                   or p.parent != p.spec.of else "scopes"} for p in h.predictions if p.parent]
        edges += [{"from": p.spec.of, "to": p.id, "kind": "qualifies"}
                  for p in h.predictions if p.spec.of and not p.parent]
    edges += [{"from": r.experiment_id, "to": r.hypothesis_id, "kind": "tests"} for r in records]
    edges += [{"from": r.experiment_id, "to": t, "kind": "informs"} for r in records for t in r.targets]
    return edges


def _verdict_fields(v: Verdict) -> dict:
    fields = asdict(v)
    fields.pop("id")
    fields.pop("pairs")
    if not fields["basis"]:  # read by regions, as every study before ranges: no key, the same file
        fields.pop("basis")
        fields.pop("reading")
    if fields["lack_of_fit"] is None:
        fields.pop("lack_of_fit")
    return fields


def write(path: Path, graph: dict) -> None:
    write_atomic(path, dumps(graph, separators=(",", ":")))  # compact


def dumps(value, depth: int = 2, **options) -> str:
    """json.dumps(value, **options), the same text, encoded a list item or a dict entry at a time
    down to `depth`: json's C encoder holds the GIL for the whole of one call, up to a second
    for a long study's graph, and a write in its thread would hold up the loop's thread as long."""
    encoder = json.JSONEncoder(**options)
    if encoder.sort_keys or encoder.indent is not None:  # the pieces would not know their place
        return encoder.encode(value)
    return _chunked(value, depth, encoder)


def _chunked(value, depth: int, encoder: json.JSONEncoder) -> str:
    if depth and isinstance(value, list) and value:
        return "[" + encoder.item_separator.join(_chunked(v, depth - 1, encoder) for v in value) + "]"
    if depth and isinstance(value, dict) and value and all(type(k) is str for k in value):
        return "{" + encoder.item_separator.join(encoder.encode(k) + encoder.key_separator +
                                                 _chunked(v, depth - 1, encoder) for k, v in value.items()) + "}"
    return encoder.encode(value)
