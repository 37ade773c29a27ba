"""bench/planners.py's summary as a table: one column per planner, one row per figure."""


def ratio(key: str, n_key: str | None, digits: int = 2):
    """A table cell: the summary's ratio `key`, with its count `n_key`."""
    def cell(s: dict) -> str:
        if s[key] is None:
            return "   -"
        return f"{s[key]:.{digits}f}" + (f" (n={s[n_key]})" if n_key else "")
    return cell


def table(summary: dict) -> str:
    def pct(x):
        return "   -  " if x is None else f"{100 * x:5.1f}%"

    rows = [("decided / predictions", lambda s: f"{s['decided']}/{s['predictions']}"),
            ("accuracy (definite truth)  >=95%", lambda s: f"{pct(s['accuracy'])} of {s['n_definite_decided']}"),
            ("correct at conf >= 0.9", lambda s: f"{pct(s['calibration_at_0.9'])} of {s['n_confident']}"),
            ("at-threshold decided      <=5%", lambda s: f"{pct(s['at_threshold_false_rate'])} of {s['n_at_threshold']}"),
            ("studies fully decided", lambda s: f"{s['studies_fully_decided']}/{s['studies']}"),
            ("median runs (fully decided)", lambda s: f"{s['median_runs_fully_decided']}"),
            ("runs / grid, median       <=0.5", ratio("ratio_to_grid_median", "n_ratio")),
            ("  any planner, at least", ratio("floor_ratio_to_grid_median", "n_ratio")),
            ("fully decided, grid not", lambda s: f"{s['fully_decided_grid_not']}"),
            ("per prediction: runs / grid", ratio("ratio_each_to_grid_median", "n_ratio_each")),
            ("runs / grid's full walk", ratio("full_walk_ratio_median", "n_full_walk")),
            ("runs in all", lambda s: f"{s['runs_total']}"),
            ("compute to decide / walk     <=0.2", ratio("compute_ratio_median", "n_compute_ratio", 3)),
            ("compute spent / walk, all", ratio("spent_ratio_median", None, 3)),
            ("share fully decided", lambda s: f"{pct(s['share_fully_decided'])}"),
            ("runs stopped early", lambda s: f"{s['runs_stopped_early']}"),
            ("'nothing left' with one open", lambda s: f"{s['gave_up']}"),
            ("  ... decided there by another", lambda s: f"{s['gave_up_reachable']}")]
    width = 34
    lines = [f"{'':{width}s}" + "".join(f"{name:>20s}" for name in summary)]
    for label, cell in rows:
        lines.append(f"{label:{width}s}" + "".join(f"{cell(summary[name]):>20s}" for name in summary))
    return "\n".join(lines)
