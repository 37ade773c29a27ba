"""Whether an open prediction can still be decided within the study's budget. Pure.

The planner's information-gain look-ahead (`planner/gain.py`) simulates a few more
scores; a verdict that needs thirty more pairs gains almost nothing from any of
them, and a planner that stopped there would give up with budget left. This look-ahead
reaches as far as the budget does, cheaply: the fewest more scores after which the
guard would decide were the effect to stay at its estimate, or at either end of its
90% interval (`stats.more_scores_to_decide`, from `verdicts.projection`), against the runs left
and the seeds the space can still give under --max-seeds (a declared range gives more
values as well: `OfflinePlanner._cells`). A projection, not a
promise; a prediction it calls reachable is worth running for even when no batch of
the gain's look-ahead is.
"""
from __future__ import annotations

from dataclasses import dataclass

from parser.checker import stats
from parser.checker.evidence import Evidence
from parser.checker.verdicts import projection

LIMIT = 1000  # more scores than this: the estimate sits at the threshold


@dataclass(frozen=True)
class Reach:
    pid: str
    scores: int | None  # more pairs (a bound: runs) needed; None: at the threshold
    runs: int | None  # the runs they cost
    why: str = ""  # empty while reachable, else why it is not
    unit: str = "pairs"

    @property
    def reachable(self) -> bool:
        return not self.why


def reach(pid: str, ev: Evidence, room: int, runs_left: int, per: int) -> Reach:
    """Reach of one open prediction: `room` more scores the space allows (seeds under
    --max-seeds in the cells that inform it), `runs_left` in the budget, `per` runs a score.

    Reachable when the estimate, or an end of its 90% interval, would be decided within
    both (`verdicts.projection`)."""
    unit = "runs" if per == 1 else "pairs"
    p = projection(ev)
    needs = {which: None for which, _, _ in p.options}
    for which, delta, bound in p.options:
        k = stats.more_scores_to_decide(delta, p.n, bound=bound, limit=LIMIT, cells=p.cells)
        if k is not None:
            k = max(k, 1)  # undecided now: at least one more
            needs[which] = k if needs[which] is None else min(needs[which], k)
    at_estimate, best = needs["estimate"], min((k for k in needs.values() if k is not None), default=None)
    if best is None:
        return Reach(pid, None, None, f"the estimate and its 90% interval sit at the threshold "
                                      f"(more than {LIMIT} {unit} at the current noise)", unit)
    cost = f"{unit} at the current estimate" if at_estimate == best else \
        f"{unit} even at the nearer end of its 90% interval" + \
        (f" ({at_estimate} at the estimate)" if at_estimate else " (more than "
         f"{LIMIT} at the estimate, which sits at the threshold)")
    if best > room:
        return Reach(pid, best, best * per, f"about {best} more {cost}, but the space allows "
                                            f"{room} more (--max-seeds)", unit)
    if best * per > runs_left:
        return Reach(pid, best, best * per, f"the budget is too small for the noise: about {best} more "
                                            f"{cost} ({best * per} runs), {runs_left} runs left", unit)
    return Reach(pid, best, best * per, unit=unit)


def explain(reaches: list[Reach], untestable: dict[str, str]) -> str:
    """The stop reason's account of what stays open, and why."""
    parts = [f"{r.pid}: {r.why}" for r in reaches if not r.reachable]
    parts += [f"{pid}: untestable in this space ({why})" for pid, why in untestable.items()]
    return "; ".join(parts)
