"""The trajectory as an ASCII tree, for the terminal at the end of a study."""
from __future__ import annotations

from trajectory.effects import fmt
from trajectory.sides import shown


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


def found_lines(p: dict) -> list[str]:
    """What a prediction found, in its own terms, and what would settle it while open."""
    found = p.get("found") or {}
    lines = [f"found: {found['text']}"] if found.get("text") else []
    if found.get("sentence"):
        lines.append(f"  i.e. {found['sentence']}")
    if found.get("curve"):
        lines.append(f"along {found['curve']['variable']}: {found['curve']['text']}")
    if found.get("caveat"):
        lines.append(f"caveat: {found['caveat']}")
    if p.get("basis"):
        lines.append(f"read: {p['basis']}")
    if found.get("to_decide"):
        lines.append(f"to decide: {found['to_decide']['text']}")
    return lines


def pair_values(predictions: list[dict]) -> dict[frozenset, str]:
    """Each pair's own effect (the first prediction that scored it), keyed by its experiment ids."""
    out: dict[frozenset, str] = {}
    for p in predictions:
        for cell in (p.get("found") or {}).get("cells") or []:
            for pair in cell["pairs"]:
                if len(pair["ids"]) == 2:
                    out.setdefault(frozenset(pair["ids"]), fmt(pair["value"], cell["unit"]))
    return out


def _describe(group: list[dict], varying: list[str], factor: str | None, values: dict | None = None) -> str:
    first = group[0]
    shown = [f"{k}={first['factors'][k]}" for k in varying if k != factor and k in first["factors"]]
    ids = "+".join(e["id"].removeprefix("exp_") for e in group)
    arms = " vs ".join(str(e["factors"].get(factor, "?")) for e in group) if factor else ""
    failed = [f"{e['id']} {e['status']}: {e['error']}" for e in group if e["status"] != "completed"]
    shown.append(f"seed={first['seed']}")
    text = f"Exp {ids}: {', '.join(shown)}"
    text += f": {arms}" if arms else ""
    value = (values or {}).get(frozenset(e["id"] for e in group))
    text += f" {value}" if value else ""
    early = [f"{e['id'].removeprefix('exp_')} at step {e['steps']}" for e in group if e.get("stopped_early")]
    text += f" (stopped at target: {', '.join(early)})" if early else ""
    return text + (f" [{'; '.join(failed)}]" if failed else "")


def _changes(group: list[dict], history: dict[str, dict]) -> str:
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
    """Hypotheses with their predictions and experiments; child hypotheses nested."""
    hyps = graph["hypotheses"]
    predictions = graph["predictions"]
    varying = [k for k, v in hyps[0]["initial_config"].items() if isinstance(v, list) and len(v) > 1]
    factor = next((p["spec"]["factor"] for p in predictions if p["spec"]["kind"] == "comparison"), None)
    history = _history_index(predictions)
    groups = _groups(graph["experiments"])
    values = pair_values(predictions)

    def block(h: dict) -> list[str]:
        items = []
        for p in (p for p in predictions if p["hypothesis"] == h["id"]):
            status = p["status"] + (f": {p['reason']}" if p.get("reason") and p["status"] == "untestable" else "")
            if shown(p):
                status += f", {shown(p)}"
            item = f"{p['id']} [{_conf(p['confidence'])} {status}] {p['text']}\n     = {p['definition']}"
            item += "".join(f"\n     {line}" for line in found_lines(p))
            if p.get("parent"):  # a child's scoped prediction shares its reason, shown once at the child
                own = p.get("reason") and p["reason"] != h.get("reason")
                item += f"\n     (from {p['parent']}: {p['reason']})" if own else f"\n     (from {p['parent']})"
            items.append([item])
        for group in groups:
            if group[0]["hypothesis"] == h["id"]:
                items.append([_describe(group, varying, factor, values) + _changes(group, history)])
        for child in (c for c in hyps if c.get("parent") == h["id"]):
            items.append(block(child))
        head = f"Hypothesis {h['id']}: {h['claim']}"
        if h.get("reason"):
            head += f"\n  (spawned after {h['after']}: {h['reason']})"
        return head.split("\n") + _indent(items)

    lines = []
    for root in (h for h in hyps if not h.get("parent")):
        lines += block(root)
    for ext in graph.get("space_extensions") or []:
        lines.append(f"Space: {ext['reason']}" + (f" (after {ext['after']})" if ext.get("after") else ""))
    if graph.get("stop_reason"):
        lines.append(f"Stopped: {graph['stop_reason']}")
    return "\n".join(lines)


def _indent(items: list[list[str]]) -> list[str]:
    out = []
    for i, item in enumerate(items):
        last = i == len(items) - 1
        head, rest = ("└─ ", "   ") if last else ("├─ ", "│  ")
        sub = [line for part in item for line in part.split("\n")]
        out.append("  " + head + sub[0])
        out += ["  " + rest + line for line in sub[1:]]
    return out


def _history_index(predictions: list[dict]) -> dict[str, dict]:
    """experiment id -> confidences after it, and '<id>/before' -> confidences before it."""
    after: dict[str, dict] = {}
    for p in predictions:
        for entry in p["history"]:
            state = after.setdefault(entry["experiment_id"], {"confidence": {}, "status": {}})
            state["confidence"][p["id"]] = entry["confidence"]
            state["status"][p["id"]] = entry["status"]
    index, previous = {}, None
    for eid, now in after.items():
        if previous:
            index[eid + "/before"] = previous
        index[eid] = now
        previous = now
    return index
