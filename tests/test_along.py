"""Verdicts along a declared range (parser/checker/along.py): the range's parts, N through the fraction,
the interaction read on the line, calibration, and the checker's verdicts."""
import math
import random

import pytest

from parser.checker import along, stats, trend
from parser.checker.evidence import Evidence
from parser.checker.verdicts import DECIDE, judge
from parser.ranges import FactorRange
from parser.schema import Condition
from tests.test_curves import FADING_STUDY, FADING_TRUTH as CURVES_TRUTH

M = math.log(1.05)  # the interaction's default 5% margin on the log-ratio scale
N_RANGE = along.Scope("n_train_samples", "n_train_samples", True, 100.0, 10000.0)
ABOVE_1000 = Condition(variable="n_train_samples", op=">", value=1000.0)


def test_the_span_is_between_the_centroids_of_the_declared_ranges_two_parts():
    main, versus = along.span(N_RANGE, ABOVE_1000, None)
    assert main == pytest.approx(math.log(math.sqrt(100 * 1000)))
    assert versus == pytest.approx(math.log(math.sqrt(1000 * 10000)))
    # the comparison's own condition on the same variable narrows the reference part
    below_300 = Condition(variable="n_train_samples", op="<", value=300.0)
    assert along.span(N_RANGE, ABOVE_1000, below_300)[0] == pytest.approx(math.log(math.sqrt(100 * 300)))
    # a condition past the range's end leaves a part empty: the regions are read instead
    assert along.span(N_RANGE, Condition(variable="n_train_samples", op=">", value=5e4), None) is None
    assert along.span(N_RANGE, Condition(variable="n_train_samples", op="==", value=1e3), None) is None


def test_n_is_read_through_a_declared_fraction_range():
    ranges = {"dataset_fraction": FactorRange(low=0.05, high=1.0, log=True)}
    where = along.scope("n_train_samples", ranges, [(154, 0.05), (3076, 1.0)])
    assert where.factor == "dataset_fraction" and where.log
    assert where.high == pytest.approx(3076, rel=0.01)
    # N that is not one number times the fraction (two sequence lengths): no line
    assert along.scope("n_train_samples", ranges, [(154, 0.05), (6000, 1.0)]) is None
    assert along.scope("learning_rate", ranges, []) is None  # a list factor


def _two_points_evidence(main: list[float], versus: list[float]) -> Evidence:
    """Every pair at one of the two centroids: the line is the two regions' difference."""
    c_main, c_versus = along.span(N_RANGE, ABOVE_1000, None)
    points = tuple((c_main, y, ()) for y in main) + tuple((c_versus, y, ()) for y in versus)
    line = along.RangeLine(N_RANGE, points, 0.1, centroids=(c_main, c_versus))
    return Evidence("difference", tuple(y - M for y in main), line.fitted.noise, versus=tuple(versus),
                    shift=-M, range_line=line)


def test_at_the_two_centroids_the_line_is_the_two_sample_test():
    main, versus = [0.40, 0.31, 0.45, 0.38], [0.22, 0.30, 0.15]
    ev = _two_points_evidence(main, versus)
    shifted = [y - M for y in main]
    for side in (+1, -1):
        assert ev.range_line.evalue(M, side) == pytest.approx(stats.two_sample_evalue(shifted, versus, side), rel=1e-9)
    post, regions = judge(ev).posterior, stats.difference(shifted, versus, ev.noise)
    assert (post.mean, post.se, post.df) == pytest.approx((regions.mean, regions.se, regions.df))
    # n_eff = Sxx / D^2 is the two-sample one, 1 / (1/n_a + 1/n_b)
    d = ev.range_line.d
    assert ev.range_line.fitted.sxx / d ** 2 == pytest.approx(1 / (1 / 4 + 1 / 3))


def _study(rng, drop: float, sigma: float, looks: int):
    """One pair at each of `looks` distinct data sizes, log-uniform over the range (chosen
    before their scores), the true effect linear in log N with the given drop between centroids."""
    c_main, c_versus = along.span(N_RANGE, ABOVE_1000, None)
    slope = drop / (c_main - c_versus)
    cut = math.log(1000)
    points, main, versus = [], [], []
    for _ in range(looks):
        u = rng.uniform(math.log(100), math.log(10000))
        y = 0.3 + slope * (u - c_main) + rng.gauss(0, sigma)
        points.append((u, y, ()))
        (versus if u > cut else main).append(y)
        line = along.RangeLine(N_RANGE, tuple(points), 0.1, centroids=(c_main, c_versus))
        if not main or not versus or line.fitted is None or line.fitted.values < trend.MIN_VALUES:
            continue
        yield Evidence("difference", tuple(y - M for y in main), line.fitted.noise, versus=tuple(versus),
                       shift=-M, range_line=line)


def _decisions(drop: float, guarded: bool, studies: int = 300, looks: int = 16, sigma: float = 0.05):
    """Share of sequential studies that decide (a look after every pair), and the statuses."""
    rng, decided, statuses = random.Random(11), 0, []
    for _ in range(studies):
        for ev in _study(rng, drop, sigma, looks):
            if guarded:
                status = judge(ev).status
            else:  # the posterior alone: past 0.9 either way
                conf = ev.range_line.contrast(M).prob_positive()
                status = "confirmed" if conf >= DECIDE else "refuted" if conf <= 1 - DECIDE else "undecided"
            if status != "undecided":
                decided += 1
                statuses.append(status)
                break
    return decided / studies, statuses


def test_one_pair_per_value_with_the_drop_at_its_margin_decides_falsely_at_most_five_percent():
    assert _decisions(M, guarded=True)[0] <= 0.05


def test_the_same_looks_with_the_posterior_alone_would_decide_falsely_far_too_often():
    assert _decisions(M, guarded=False)[0] > 0.2


def test_a_strong_diminishing_effect_is_confirmed_with_one_seed_per_value():
    share, statuses = _decisions(0.3, guarded=True, studies=60, looks=16)
    assert share >= 0.9 and set(statuses) == {"confirmed"}


def test_an_effect_that_grows_instead_is_refuted_with_one_seed_per_value():
    share, statuses = _decisions(-0.2, guarded=True, studies=60, looks=16)
    assert share >= 0.9 and set(statuses) == {"refuted"}


# --- through the checker: records in, verdicts out ---

FRACTIONS = FactorRange(low=0.05, high=1.0, log=True)
PER_FRACTION = 3076  # N at dataset_fraction 1.0


def _fading_records(fractions, sigma=0.02, seed=3):
    """One pair at each fraction; pre/post loss ratio exp(-(0.3 - 0.1 log(N / 1000))) plus noise."""
    from tests.records import record

    rng, out = random.Random(seed), []
    for i, f in enumerate(fractions):
        n = round(f * PER_FRACTION)
        benefit = 0.3 - 0.1 * math.log(n / 1000) + rng.gauss(0, sigma)
        out.append(record(f"exp_{2 * i + 1:04d}", "pre", i, 2.0 * math.exp(-benefit), f, n=n))
        out.append(record(f"exp_{2 * i + 2:04d}", "post", i, 2.0, f, n=n))
    return out


def _verdicts(records, ranges):
    from parser.checker.pairs import PairIndexes
    from parser.checker.verdicts import assess_all
    from tests.records import comparison, interaction

    below = Condition(variable="n_train_samples", op="<", value=1000.0)
    above = Condition(variable="n_train_samples", op=">", value=1000.0)
    predictions = [comparison(threshold=0.2, condition=below), interaction(condition=above)]
    return assess_all(predictions, records, indexes=PairIndexes(ranges))


EIGHT = [0.05, 0.07, 0.1, 0.15, 0.22, 0.33, 0.5, 1.0]


def test_with_one_pair_per_fraction_the_interaction_is_judged_on_the_curve():
    verdict = _verdicts(_fading_records(EIGHT), {"dataset_fraction": FRACTIONS})["p2"]
    assert verdict.basis.startswith("judged on the curve along dataset_fraction: a line in log N through 8 pairs")
    assert verdict.n_pairs == 8 and verdict.status == "confirmed"
    # the drop between the centroids of the range's parts below and above N = 1000
    c_main, c_versus = math.log(math.sqrt(0.05 * PER_FRACTION * 1000)), math.log(math.sqrt(1000 * PER_FRACTION))
    assert verdict.interval[0] < 0.1 * (c_versus - c_main) < verdict.interval[1]


def test_a_comparison_on_the_range_keeps_its_region_mean_with_the_lines_noise():
    records = _fading_records(EIGHT)
    on_line, by_regions = _verdicts(records, {"dataset_fraction": FRACTIONS})["p1"], _verdicts(records, {})["p1"]
    assert on_line.basis.startswith("seed noise from the residuals of a line in log N through 8 pairs")
    assert on_line.effect == pytest.approx(by_regions.effect)  # the same region mean
    assert on_line.evidence == pytest.approx(by_regions.evidence)  # the guard reads the region's own scores
    assert on_line.interval != pytest.approx(by_regions.interval)  # the noise is the line's, not the prior's


def test_a_list_grid_or_two_values_are_read_by_regions_as_before():
    records = _fading_records(EIGHT)
    assert _verdicts(records, {})["p2"].basis == ""  # no declared range
    two = _fading_records([0.05, 1.0, 0.05, 1.0])
    assert _verdicts(two, {"dataset_fraction": FRACTIONS})["p2"] == _verdicts(two, {})["p2"]


def test_the_report_reads_the_same_noise_as_the_verdict():
    from parser.checker.evidence import gather
    from parser.checker.pairs import PairIndexes
    from tests.records import comparison, interaction
    from trajectory import findings

    ranges = {"dataset_fraction": FRACTIONS}
    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op="<", value=1000.0))
    p2 = interaction(condition=Condition(variable="n_train_samples", op=">", value=1000.0))
    by_id, records = {"p1": p1, "p2": p2}, _fading_records(EIGHT)
    for p in (p1, p2):
        assert findings.scores(p, by_id, records, ranges).noise == gather(p, by_id, records, PairIndexes(ranges)).noise

FADING_TRUTH = CURVES_TRUTH.replace("per_e_fold: {pre: 0.1}", "per_e_fold: {pre: 0.15}")
RANGE_STUDY = FADING_STUDY.replace("dataset_fraction: [0.05, 0.15, 0.5, 1.0]",
                                   "dataset_fraction: {low: 0.05, high: 1.0, log: true, points: 5}")


def test_a_simulated_study_over_a_fraction_range_decides_the_interaction_on_the_curve(tmp_path):
    import json

    import loop

    (tmp_path / "truth.yaml").write_text(FADING_TRUTH)
    (tmp_path / "h.yaml").write_text(RANGE_STUDY)
    assert loop.main(["--hypothesis", str(tmp_path / "h.yaml"), "--executor", "sim", "--sim",
                      str(tmp_path / "truth.yaml"), "--max-experiments", "30", "--out", str(tmp_path / "run")]) == 0
    graph = json.loads((tmp_path / "run" / "trajectory.json").read_text())
    p2 = next(p for p in graph["predictions"] if p["id"] == "p2")
    assert p2["status"] == "confirmed"
    assert p2["basis"].startswith("judged on the curve along dataset_fraction: a line in log N")
    assert "Read: judged on the curve" in (tmp_path / "run" / "report.md").read_text()


# --- the lack-of-fit fallback: a line that bends is read by regions, and says so ---

def _replicated_records(benefit, seeds=3, sigma=0.02, seed=5):
    """`seeds` pairs at each of five fractions, the pre/post loss ratio exp(-benefit(N)) plus noise."""
    from tests.records import record

    rng, out = random.Random(seed), []
    for f in [0.05, 0.106, 0.224, 0.473, 1.0]:
        n = round(f * PER_FRACTION)
        for s in range(seeds):
            k = len(out)
            out.append(record(f"exp_{k + 1:04d}", "pre", s, 2.0 * math.exp(-benefit(n) - rng.gauss(0, sigma)), f, n=n))
            out.append(record(f"exp_{k + 2:04d}", "post", s, 2.0, f, n=n))
    return out


def step(n):
    return 0.4 if n < 1000 else 0.0  # pre-norm 33% lower below N = 1000, no lower above


def test_a_step_along_the_range_is_read_by_regions_and_the_verdicts_say_so():
    records = _replicated_records(step)
    verdicts, by_regions = _verdicts(records, {"dataset_fraction": FRACTIONS}), _verdicts(records, {})
    for pid in ("p1", "p2"):
        v = verdicts[pid]
        assert v.reading == "regions" and v.lack_of_fit < along.STRAIGHT_LEVEL
        assert v.basis.startswith("not a straight line along dataset_fraction (lack of fit p ")
        assert v.basis.endswith("): read by regions")
        assert v.status == "confirmed"  # both hold: 0.67x < 0.8 below N = 1000, and the effect is gone above
        # the regions' own reading, as a list factor's condition: the same numbers
        assert (v.status, v.effect, v.interval, v.evidence) == \
            (by_regions[pid].status, by_regions[pid].effect, by_regions[pid].interval, by_regions[pid].evidence)


def test_a_straight_effect_with_replicates_stays_on_the_line_and_records_its_test():
    records = _replicated_records(lambda n: 0.3 - 0.1 * math.log(n / 1000))
    v = _verdicts(records, {"dataset_fraction": FRACTIONS})["p2"]
    assert v.reading == "line" and v.lack_of_fit >= along.STRAIGHT_LEVEL
    assert v.basis.startswith("judged on the curve along dataset_fraction")
    # one seed per value: no pure error, no test, the line is read as before
    one = _verdicts(_fading_records(EIGHT), {"dataset_fraction": FRACTIONS})["p2"]
    assert (one.reading, one.lack_of_fit) == ("line", None)


def _lack_of_fit_ps(draws: int, sigma: float = 0.1) -> list[float]:
    """The lack-of-fit p of the checker's line for "diminishes at N > 1000", at a fixed design
    (5 fractions x 3 seeds, both arms on the simulator), under a truth that is a line in log N."""
    from bench.curves import LOOP_STUDY, fixed_records, shape_truth
    from parser.checker.evidence import gather
    from parser.checker.pairs import PairIndexes
    from parser.compile import compile_all
    from parser.sim_truth import Truth

    grid = {k: v if isinstance(v, list) else [v] for k, v in LOOP_STUDY["hypothesis"]["initial_config"].items()}
    predictions = compile_all(LOOP_STUDY["hypothesis"]["predictions"], grid)
    by_id, rng, ps = {p.id: p for p in predictions}, random.Random(17), []
    for draw in range(draws):
        cross = math.exp(rng.uniform(math.log(300), math.log(3000)))
        records = fixed_records(Truth.model_validate(shape_truth("line", sigma, draw, cross)), seeds=3)
        line = gather(by_id["p2"], by_id, records, PairIndexes({"dataset_fraction": FRACTIONS})).range_line
        ps.append(line.lack_of_fit.p)
    return ps


def test_on_a_simulated_straight_truth_the_lack_of_fit_rejects_at_about_its_level():
    """150 simulated studies (standard errors 0.033 at 20%, 0.018 at 5%): the test is exact for
    normal noise (tests/test_trend.py checks 1% and 5% over 4000 lines); the simulator's steps
    to a target are a little coarser than that. bench/curves.py --lack-of-fit measures the
    checker's own level over more draws."""
    ps = _lack_of_fit_ps(150)
    assert abs(sum(p < 0.2 for p in ps) / len(ps) - 0.2) < 0.1
    assert abs(sum(p < 0.05 for p in ps) / len(ps) - 0.05) < 0.05


STEP_TRUTH = """
curve: {initial: 5.0, floor: 2.0, tau: 60}
n_train_samples: {per_fraction: 3076}
effects:
  - {on: tau, factor: norm_position, levels: {pre: -0.4}, where: "n_train_samples < 1000"}
noise: {tau_shared: 0.05, tau_arm: 0.04}
"""


def test_a_simulated_study_whose_truth_steps_along_the_range_falls_back_to_regions_and_is_right(tmp_path, monkeypatch):
    """The path from the fallback to trajectory.json and the report, at a 20% level: this short
    study's step rejects at p = 0.05 once three values hold replicates; at the checker's 0.1%
    (and at 1%) it decides both, rightly, on the line first, the planner replicating the cells
    whose targets are set before it opens another (tests/test_along_switch.py: why 0.1%)."""
    import json

    import loop

    monkeypatch.setattr(along, "STRAIGHT_LEVEL", 0.2)
    (tmp_path / "truth.yaml").write_text(STEP_TRUTH)
    (tmp_path / "h.yaml").write_text(RANGE_STUDY)
    assert loop.main(["--hypothesis", str(tmp_path / "h.yaml"), "--executor", "sim", "--sim",
                      str(tmp_path / "truth.yaml"), "--max-experiments", "40", "--out", str(tmp_path / "run")]) == 0
    graph = json.loads((tmp_path / "run" / "trajectory.json").read_text())
    by_id = {p["id"]: p for p in graph["predictions"]}
    for pid in ("p1", "p2"):  # 0.67x below N = 1000 (p1 holds), 1x above (p2: the effect diminishes)
        p = by_id[pid]
        assert p["status"] == "confirmed" and p["reading"] == "regions" and p["lack_of_fit"] < along.STRAIGHT_LEVEL
        assert p["basis"].startswith("not a straight line along dataset_fraction (lack of fit p ")
        assert "no crossing is read off it" in p["found"]["curve"]["text"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Read: not a straight line along dataset_fraction (lack of fit p " in report
