"""The trajectory as an ASCII tree, for the terminal at the end of a study."""
from __future__ import annotations


def _conf(value) -> str:
    return "  -  " if value is None else f"{value:.2f}"


def _groups(experiments: list[dict]) -> list[list[dict]]:
    """Experiments grouped into the comparisons they were run as (pairs)."""
    by_id = {e["id"]: e for e in experiments}
    groups, placed = [], set()
    for e in experiments:
        if e["id"] in placed:
            continue
        group = [e]
        partner = by_id.get(e.get("pair") or "")
        if partner and partner["id"] not in placed:
            group.append(partner)
        placed.update(g["id"] for g in group)
        groups.append(group)
    return groups


def _describe(group: list[dict], varying: list[str], factor: str | None) -> str:
    first = group[0]
    shown = [f"{k}={first['factors'][k]}" for k in varying if k != factor and k in first["factors"]]
    ids = "+".join(e["id"].removeprefix("exp_") for e in group)
    arms = " vs ".join(str(e["factors"].get(factor, "?")) for e in group) if factor else ""
    failed = [f"{e['id']} {e['status']}: {e['error']}" for e in group if e["status"] != "completed"]
    shown.append(f"seed={first['seed']}")
    text = f"Exp {ids}: {', '.join(shown)}"
    text += f": {arms}" if arms else ""
    return text + (f" [{'; '.join(failed)}]" if failed else "")


def _changes(group: list[dict], history: dict[str, dict], predictions: list[dict]) -> str:
    """Confidence before -> after this group, for the predictions it targeted."""
    last = history.get(group[-1]["id"])
    before = history.get(group[0]["id"] + "/before")
    if not last:
        return ""
    parts = []
    for pid in group[0].get("targets") or []:
        old = before["confidence"].get(pid) if before else None
        parts.append(f"{pid} {_conf(old).strip()}→{_conf(last['confidence'].get(pid)).strip()}"
                     f" ({last['status'].get(pid)})")
    return " → " + ", ".join(parts) if parts else ""


def tree(graph: dict) -> str:
    hyp = graph["hypotheses"][0]
    predictions = graph["predictions"]
    grid = hyp["initial_config"]
    varying = [k for k, v in grid.items() if isinstance(v, list) and len(v) > 1]
    factor = next((p["spec"]["factor"] for p in predictions if p["spec"]["kind"] == "comparison"), None)
    history = _history_index(predictions, graph["experiments"])
    lines = [f"Hypothesis {hyp['id']}: {hyp['claim']}"]
    items = []
    for p in predictions:
        status = p["status"] + (f": {p['reason']}" if p["reason"] else "")
        if p.get("evidence") is not None:
            status += f", e-value {p['evidence']:.3g}"
        items.append(f"{p['id']} [{_conf(p['confidence'])} {status}] {p['text']}\n"
                     f"     = {p['definition']}")
    for group in _groups(graph["experiments"]):
        items.append(_describe(group, varying, factor) + _changes(group, history, predictions))
    for i, item in enumerate(items):
        last = i == len(items) - 1
        head, rest = ("└─ ", "   ") if last else ("├─ ", "│  ")
        sub = item.split("\n")
        lines.append("  " + head + sub[0])
        lines += ["  " + rest + s for s in sub[1:]]
    if graph.get("stop_reason"):
        lines.append(f"Stopped: {graph['stop_reason']}")
    return "\n".join(lines)


def _history_index(predictions: list[dict], experiments: list[dict]) -> dict[str, dict]:
    """experiment id -> confidences after it, and '<id>/before' -> confidences before it."""
    if not predictions:
        return {}
    index, previous = {}, None
    for k, entry in enumerate(predictions[0]["history"]):
        eid = entry["experiment_id"]
        now = {"confidence": {p["id"]: p["history"][k]["confidence"] for p in predictions},
               "status": {p["id"]: p["history"][k]["status"] for p in predictions}}
        if previous:
            index[eid + "/before"] = previous
        index[eid] = now
        previous = now
    return index
