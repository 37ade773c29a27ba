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


def _effects(plt, graph: dict, path: Path) -> None:
    shown = [p for p in graph["predictions"] if p["effect"] is not None and p["interval"]]
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(len(shown), 1) + 1.2))
    for y, p in enumerate(shown):
        lo, hi = p["interval"]
        ax.errorbar(p["effect"], y, xerr=[[p["effect"] - lo], [hi - p["effect"]]], fmt="o", capsize=4)
    ax.set_yticks(range(len(shown)), [f"{p['id']} ({p['status']})" for p in shown])
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="effect estimate, 90% credible interval (log-ratio for relative predictions)")
    fig.tight_layout()
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
                (f"{FIGURES_DIR}/effects.png", "Effect estimates with 90% credible intervals")]
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
