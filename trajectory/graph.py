"""trajectory.json: hypotheses, predictions, experiments and the edges between them.

Derived state: it is rebuilt from the hypothesis and the log, never read back as
truth, and written atomically (temp file + os.replace) so a reader or a crash
sees the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from parser.checker import Verdict, assess_all
from parser.schema import Hypothesis, ResultRecord

TRAJECTORY_NAME = "trajectory.json"


def confidence_history(hypothesis: Hypothesis, records: list[ResultRecord],
                       unreachable: dict[str, str]) -> list[dict]:
    """Each prediction's confidence after every experiment, by replaying the log."""
    history = []
    for k in range(1, len(records) + 1):
        history.append(history_entry(records[k - 1].experiment_id,
                                     assess_all(hypothesis.predictions, records[:k], unreachable)))
    return history


def history_entry(experiment_id: str, verdicts: dict[str, Verdict]) -> dict:
    return {"experiment_id": experiment_id,
            "confidence": {pid: v.confidence for pid, v in verdicts.items()},
            "status": {pid: v.status for pid, v in verdicts.items()}}


def build(hypothesis: Hypothesis, records: list[ResultRecord], verdicts: dict[str, Verdict],
          history: list[dict], stop_reason: str | None = None) -> dict:
    h = hypothesis
    predictions = [{
        "id": p.id, "hypothesis": h.id, "text": p.text, "spec": p.spec.model_dump(),
        "definition": p.spec.text(), "compiled_by": p.compiled_by,
        **_verdict_fields(verdicts[p.id]),
        "history": [{"experiment_id": e["experiment_id"], "confidence": e["confidence"][p.id],
                     "status": e["status"][p.id]} for e in history],
    } for p in h.predictions]
    experiments = [{
        "id": r.experiment_id, "hypothesis": r.hypothesis_id, "config_hash": r.config_hash,
        "factors": {k: r.config[k] for k in h.initial_config if k in r.config},
        "seed": r.seed, "status": r.status, "pair": r.pair, "targets": r.targets,
        "final_val_loss": (r.metrics or {}).get("final_val_loss"), "error": r.error,
    } for r in records]
    edges = [{"from": h.id, "to": p.id, "kind": "predicts"} for p in h.predictions]
    edges += [{"from": r.experiment_id, "to": h.id, "kind": "tests"} for r in records]
    edges += [{"from": r.experiment_id, "to": t, "kind": "informs"} for r in records for t in r.targets]
    edges += [{"from": p.spec.of, "to": p.id, "kind": "qualifies"}
              for p in h.predictions if p.spec.of]
    return {"hypotheses": [{"id": h.id, "claim": h.claim, "parent": h.parent,
                            "initial_config": h.initial_config}],
            "predictions": predictions, "experiments": experiments, "edges": edges,
            "stop_reason": stop_reason}


def _verdict_fields(v: Verdict) -> dict:
    fields = asdict(v)
    fields.pop("id")
    fields.pop("pairs")
    return fields


def write(path: Path, graph: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(graph, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
