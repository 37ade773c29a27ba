"""PNG figures beside the report (RUN_DIR/figures/), drawn with matplotlib's Agg backend.

matplotlib is optional at run time: without it `draw` says so in one line and
returns no figures, and the report is written without them.
"""
from __future__ import annotations

from pathlib import Path

FIGURES_DIR = "figures"


def compared_factor(graph: dict) -> str | None:
    """The factor the first comparison (or equivalence) splits runs by: the arms of the curves."""
    return next((p["spec"]["factor"] for p in graph["predictions"]
                 if p["spec"]["kind"] in ("comparison", "equivalence") and p["spec"]["factor"]), None)


def curves_by_arm(records: list, factor: str | None) -> dict[str, list[dict]]:
    """arm value -> [{id, curve}] for completed runs that have a val-loss curve."""
    arms: dict[str, list[dict]] = {}
    for r in records:
        curve = (r.metrics or {}).get("val_curve") or []
        if r.status == "completed" and curve:
            arm = str(r.config.get(factor)) if factor else "all"
            arms.setdefault(arm, []).append({"id": r.experiment_id, "curve": [list(p) for p in curve]})
    return arms


def _confidence(plt, graph: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    order = {e["id"]: i + 1 for i, e in enumerate(graph["experiments"])}
    for p in graph["predictions"]:
        points = [(order[h["experiment_id"]], h["confidence"]) for h in p["history"]
                  if h["confidence"] is not None and h["experiment_id"] in order]
        if points:
            ax.plot(*zip(*points), marker=".", label=f"{p['id']} ({p['status']})")
    for level in (0.1, 0.9):
        ax.axhline(level, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="experiments finished", ylabel="confidence", ylim=(-0.02, 1.02))
    if ax.get_legend_handles_labels()[0]:  # a study whose runs all failed plots nothing
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _curves(plt, records: list, factor: str | None, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (arm, runs) in enumerate(sorted(curves_by_arm(records, factor).items())):
        for j, run in enumerate(runs):
            steps, losses = zip(*run["curve"])
            ax.plot(steps, losses, color=colours[i % len(colours)], alpha=0.5, lw=1,
                    label=f"{factor}={arm}" if factor and j == 0 else None)
    ax.set(xlabel="step", ylabel="val loss")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


STATUS_COLOURS = {"confirmed": "tab:green", "refuted": "tab:red"}  # open ones: grey


def effect_panels(graph: dict) -> list[tuple[str, list[tuple[dict, dict]]]]:
    """The predictions' effects in their own terms, grouped by what they measure: (axis label,
    [(prediction, effect dict)]). An interaction is drawn as what it is judged on: how much
    weaker the effect is in its second region (`trajectory.effects.weaker`)."""
    panels: dict[str, list] = {}
    for p in graph["predictions"]:
        e = (p.get("found") or {}).get("effect")
        if not e:
            continue
        if "drop" in e:
            label = f"{p['id']}: the effect is weaker where {e['there']['where']} by"
            e = e["drop"]
        else:
            label = e["label"].rstrip(":")
        panels.setdefault(label, []).append((p, e))
    return list(panels.items())


def _effect_row(ax, y: int, p: dict, e: dict) -> list[float]:
    """One prediction's estimate, 90% interval and threshold (a short dashed mark on its row, a
    shaded span for an equivalence's margin), its numbers right of the axis; returns the x
    values it needs in view."""
    lo, hi = e["interval"]
    colour = STATUS_COLOURS.get(p["status"], "tab:gray")
    ax.errorbar(e["estimate"], y, xerr=[[e["estimate"] - lo], [hi - e["estimate"]]], fmt="o", color=colour, capsize=4)
    ax.text(1.02, y, e["text"].replace(e["label"], "", 1).strip(" :"), transform=ax.get_yaxis_transform(),
            va="center", fontsize=7)
    rule, xs = e.get("rule"), [lo, hi]
    if rule and rule["op"] == "within":
        a, b = rule["value"]
        ax.fill_betweenx([y - 0.35, y + 0.35], a, b, color="tab:blue", alpha=0.12, lw=0)
        xs += [a, b]
    elif rule:
        ax.vlines(rule["value"], y - 0.4, y + 0.4, color="black", lw=1.2, ls="--")
        xs.append(rule["value"])
    return xs


def _effect_panel(ax, label: str, items: list[tuple[dict, dict]]) -> None:
    xs = [x for y, (p, e) in enumerate(items) for x in _effect_row(ax, y, p, e)]
    ratio = items[0][1]["unit"] == "×"
    if items[0][0]["spec"]["kind"] != "bound":  # no effect at all: 1× or a zero difference
        ax.axvline(1.0 if ratio else 0.0, color="grey", lw=0.6)
        xs.append(1.0 if ratio else 0.0)
    span = (max(xs) - min(xs)) or abs(max(xs)) or 1.0
    ax.set_xlim(min(xs) - 0.08 * span, max(xs) + 0.08 * span)
    if ratio:
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:g}×")
    ax.set_yticks(range(len(items)), [f"{p['id']} ({p['status']})" for p, _ in items], fontsize=8)
    ax.set_ylim(len(items) - 0.5, -0.5)
    ax.set_xlabel(label, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)


def _effects(plt, graph: dict, path: Path) -> None:
    """Each prediction's effect in the units its text uses: the ratio arm/baseline (×), the
    difference, the metric's mean for a bound, with the claim's threshold."""
    panels = effect_panels(graph)
    rows = [len(items) for _, items in panels] or [1]
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 0.4 * sum(rows) + 1.0 * len(rows) + 0.4), squeeze=False,
                             gridspec_kw={"height_ratios": rows})
    if not panels:
        axes[0][0].text(0.5, 0.5, "no effect estimated yet", ha="center", va="center")
        axes[0][0].set_axis_off()
    for ax, (label, items) in zip(axes[:, 0], panels):
        _effect_panel(ax, label, items)
    fig.suptitle("90% credible intervals; dashed: the claim's threshold; shaded: an equivalence's margin; "
                 "grey line: no effect", fontsize=8)
    fig.tight_layout()  # it makes room for each row's numbers right of its axis
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _effect_curves(plt, shown: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 3.6), squeeze=False)
    for ax, p in zip(axes[0], shown):
        c = p["found"]["curve"]
        xs, est, lo, hi = zip(*c["band"])
        ax.fill_between(xs, lo, hi, alpha=0.25, label="90% band")
        ax.plot(xs, est, label="fitted effect")
        ax.scatter(*zip(*c["points"]), s=12, color="black", label="pairs")
        ax.axhline(c["threshold"], color="grey", lw=0.8, ls="--", label="the claim's threshold")
        cross = c["crossing"]
        if cross["bounded"] and xs[0] / 10 <= cross["value"] <= xs[-1] * 10:
            ax.axvspan(cross["low"], cross["high"], color="orange", alpha=0.15,
                       label=f"crossing, {cross.get('mass', 0.9):.0%}")
        ax.set(xscale="log" if c["log"] else "linear", xlabel=c["variable"], title=p["id"],
               ylabel=c["label"])
        ax.set_xlim(xs[0], xs[-1])
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw(run_dir: Path, graph: dict, records: list) -> list[tuple[str, str]]:
    """Write the figures; return (path relative to run_dir, caption) for each."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("figures skipped: matplotlib is not installed (pip install matplotlib)")
        return []
    out = run_dir / FIGURES_DIR
    out.mkdir(exist_ok=True)
    factor = compared_factor(graph)
    _confidence(plt, graph, out / "confidence.png")
    _curves(plt, records, factor, out / "val_curves.png")
    _effects(plt, graph, out / "effects.png")
    arms = f" by {factor}" if factor else ""
    out_list = [(f"{FIGURES_DIR}/confidence.png", "Confidence of each prediction after each experiment"),
                (f"{FIGURES_DIR}/val_curves.png", f"Validation loss curves{arms}"),
                (f"{FIGURES_DIR}/effects.png", "Each prediction's effect in its own terms (the ratio arm/baseline, "
                 "the difference, or a bound's mean) with its 90% credible interval and the claim's threshold")]
    with_curve, seen = [], set()
    for p in graph["predictions"]:  # one panel per comparison and variable (an interaction shares its source's)
        c = (p.get("found") or {}).get("curve")
        if c and (c["label"], c["variable"]) not in seen:
            seen.add((c["label"], c["variable"]))
            with_curve.append(p)
    if with_curve:
        _effect_curves(plt, with_curve, out / "effect_curves.png")
        out_list.append((f"{FIGURES_DIR}/effect_curves.png",
                         "Each effect along the variable its prediction names, with a 90% band"))
    return out_list
