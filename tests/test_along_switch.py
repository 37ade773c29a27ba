"""The guard on the lack-of-fit switch (parser/checker/along.py, STRAIGHT_LEVEL): read after every
pair, a straight line must seldom be sent to the regions at any look, since each switch is a
second chance to decide (P(false) <= P(the line's e-value ever passes) + P(ever switched))."""
import math
import random

from parser.checker import along, trend

GRID = [math.log(x) for x in (100, 316.2, 1000, 3162, 10000)]


def _ever_switched(level: float, studies: int = 400, looks: int = 45, seed: int = 4) -> float:
    """Share of straight lines (5-point grid walked seed by seed, a look after every pair) whose
    lack of fit rejects at `level` at some look. The F test is scale-free, so one noise sd does."""
    rng, switched = random.Random(seed), 0
    for _ in range(studies):
        points = []
        for k in range(looks):
            u = GRID[k % 5]
            points.append((u, 0.3 - 0.02 * u + rng.gauss(0, 0.05), ()))
            line = trend.fit_common_slope(points, 0.1)
            test = line and trend.lack_of_fit(points, line)
            if test and test.p < level:
                switched += 1
                break
    return switched / studies


def test_a_one_percent_level_read_after_every_pair_switches_far_more_than_one_percent():
    # about 8% of straight lines within 45 pairs (se 1.4 points at 400 studies): the looks add up
    assert _ever_switched(0.01) > 0.04


def test_the_checkers_level_seldom_switches_a_straight_line_at_any_look():
    # about 0.7%: the switch's share of the decisions' error stays under 2 points however often it looks
    assert along.STRAIGHT_LEVEL <= 0.001
    assert _ever_switched(along.STRAIGHT_LEVEL) <= 0.02


def test_on_the_same_draws_the_fallback_decides_falsely_no_more_than_the_line_alone():
    """120 studies at the line's margin, every reading walking the same noise (bench/curve_verdicts.py
    --paired): the checker's fallback adds at most one false decision to the line's own."""
    from bench.curve_verdicts import paired

    got = paired("grid 5 x seeds, line", 0.03, 120, seed=2)
    assert got["the checker's"].sum() <= got["line only"].sum() + 1
    assert got["the checker's"].mean() <= 0.1  # 5% target; 2.7 se of slack at 120 studies
