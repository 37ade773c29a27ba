"""dashboard.html: one self-contained page (inline CSS and JS, the data as embedded JSON).

The page shows, from the JSON alone (no network): a verdict card per prediction
(its words, exact definition, verdict, confidence, the effect in its own terms with
its interval, e-value, pairs, and what would decide it while open), a forest plot
of the effect per design cell, the trajectory as hypotheses -> predictions ->
design cells -> pairs (one node per pair, details on hover), each prediction's
confidence over the experiments, the val-loss curves by arm and the experiments
table (sortable, filterable; `#filter=...&sort=<column>&desc` in the address).
Script errors are written into the page (`#script-errors`) for headless checks. While the study runs it reloads itself every 10 s; once the
trajectory has a stop reason it stops reloading. Written atomically, like
trajectory.json, so a reloading browser never reads half a page.
"""
from __future__ import annotations

import math
from pathlib import Path

from executor.atomic import write_atomic
from trajectory.figures import compared_factor, curves_by_arm
from trajectory.graph import dumps

DASHBOARD_NAME = "dashboard.html"
TEMPLATE = Path(__file__).with_name("dashboard_template.html")
REFRESH = '<meta http-equiv="refresh" content="10">'
MAX_CURVES = 200  # per arm, the latest: more is unreadable on one chart and slows every rewrite


def data(graph: dict, records: list) -> dict:
    factor = compared_factor(graph)
    times = {r.experiment_id: (r.metrics or {}).get("train_time_s") for r in records}
    experiments = [dict(e, train_time_s=times.get(e["id"])) for e in graph["experiments"]]
    curves = {arm: runs[-MAX_CURVES:] for arm, runs in curves_by_arm(records, factor).items()}
    return {"graph": dict(graph, experiments=experiments), "factor": factor, "curves": curves}


def _finite(value):
    """NaN and infinities (a diverged curve) become null: JSON.parse rejects them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def embed(value) -> str:
    """JSON that can sit inside <script>: '<' only occurs in strings, where \\u003c means the same."""
    text = dumps(_finite(value), 3, allow_nan=False, default=str)  # in pieces: a write in a thread leaves the loop be
    return text.replace("<", "\\u003c")


def html(graph: dict, records: list) -> str:
    page = TEMPLATE.read_text()
    refresh = "" if graph.get("stop_reason") else REFRESH
    return page.replace("<!--REFRESH-->", refresh).replace("/*DATA*/null", embed(data(graph, records)))


def write(run_dir: Path, graph: dict, records: list) -> None:
    write_atomic(run_dir / DASHBOARD_NAME, html(graph, records))
