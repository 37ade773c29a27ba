"""trajectory/curves.py: a comparison's effect along a numeric variable, and where it crosses the claim."""
import json
import math
import re

import pytest

from parser.checker.verdicts import assess_all
from parser.schema import Condition, Hypothesis
from tests.records import comparison, interaction, pairs
from trajectory import findings

VARYING = ["norm_position", "dataset_fraction"]


def fading(sizes=(300, 1000, 3000, 10000), seeds=3, cross=1500.0, per_e_fold=0.1):
    """Pairs whose pre/post ratio is 0.8 at N = cross and moves towards 1 as N grows."""
    out, k = [], 1
    for n in sizes:
        ratio = 0.8 * math.exp(per_e_fold * math.log(n / cross))
        wobble = [1.0, 1.01, 0.99][:seeds]
        out += pairs([(2.0 * ratio * w, 2.0) for w in wobble], fraction=n / 10000, n=n, start=k)
        k += 2 * seeds
    return out


def curve_of(predictions, records):
    by_id = {p.id: p for p in predictions}
    verdicts = assess_all(predictions, records)
    return {p.id: findings.finding(p, by_id, records, verdicts[p.id], VARYING, 10.0)["curve"] for p in predictions}


def test_an_interaction_on_data_size_gets_the_crossing_of_its_comparison_threshold():
    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op="<", value=5000))
    p2 = interaction(condition=Condition(variable="n_train_samples", op=">", value=5000))
    got = curve_of([p1, p2], fading())
    for c in got.values():
        assert c["variable"] == "n_train_samples" and c["log"] and c["n"] == 12
        assert c["threshold"] == pytest.approx(0.8)
        assert c["crossing"]["bounded"]
        assert c["crossing"]["low"] < 1500 < c["crossing"]["high"]
        assert c["crossing"]["value"] == pytest.approx(1500, rel=0.1)
        assert "crosses 0.80× at n_train_samples ≈ 1," in c["text"]


def test_the_band_is_in_the_prediction_terms_and_holds_the_fitted_effect():
    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op="<", value=5000))
    c = curve_of([p1], fading())["p1"]
    xs = [x for x, *_ in c["band"]]
    assert xs[0] == pytest.approx(300) and xs[-1] == pytest.approx(10000)
    for x, est, lo, hi in c["band"]:
        assert lo <= est <= hi
        assert est == pytest.approx(0.8 * math.exp(0.1 * math.log(x / 1500)), rel=0.02)


def test_a_study_its_verdicts_stopped_reads_the_crossing_at_95_percent_and_says_so():
    from trajectory import graph
    from trajectory.curves import STOPPED_MASS

    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op="<", value=5000))
    records = fading(seeds=2)
    h = Hypothesis(claim="fades", predictions=[p1], initial_config={"norm_position": ["pre", "post"]})
    verdicts = assess_all([p1], records)
    built = {why: graph.build([h], records, verdicts, [], why)["predictions"][0]["found"]["curve"]
             for why in (None, "experiment budget spent (8 runs)", graph.VERDICTS_STOP)}
    at_90, budget, stopped = (c["crossing"] for c in built.values())
    assert at_90 == budget and at_90["mass"] == 0.9 and stopped["mass"] == STOPPED_MASS
    assert stopped["low"] < at_90["low"] < at_90["high"] < stopped["high"]  # wider, same estimate
    assert stopped["value"] == at_90["value"]
    assert "(95% interval, not 90%: the study stopped as soon as its verdicts were decided" \
        in built[graph.VERDICTS_STOP]["text"]
    assert "95%" not in built[None]["text"]


def test_a_flat_effect_says_its_crossing_cannot_be_placed():
    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op="<", value=5000))
    c = curve_of([p1], fading(per_e_fold=0.0, cross=1e9))["p1"]
    assert c["crossing"]["bounded"] is False
    assert "can't be placed yet" in c["text"]


def test_two_values_give_no_curve_and_an_unconditioned_prediction_none():
    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op="<", value=5000))
    assert curve_of([p1], fading(sizes=(300, 3000)))["p1"] is None
    assert curve_of([comparison(threshold=0.2)], fading())["p1"] is None


def test_a_step_along_the_data_sizes_is_drawn_but_reads_no_crossing_off_its_line():
    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op="<", value=5000))
    out, k = [], 1
    for n in (300, 1000, 3000, 10000):  # 0.7x up to N = 1000, 1x past it: replicates show the bend
        out += pairs([(2.0 * (0.7 if n <= 1000 else 1.0) * w, 2.0) for w in (1.0, 1.01, 0.99)], fraction=n / 10000,
                     n=n, start=k)
        k += 6
    c = curve_of([p1], out)["p1"]
    assert c["lack_of_fit"] < 0.01 and len(c["band"]) > 0
    assert (c["crossing"]["value"], c["crossing"]["bounded"]) == (None, False)
    assert c["text"].startswith("not a straight line along n_train_samples (lack of fit p ")
    assert "lack_of_fit" not in curve_of([p1], fading())["p1"]  # a straight effect: as before


FADING_TRUTH = """
curve: {initial: 5.0, floor: 2.0, tau: 60}
n_train_samples: {per_fraction: 3076}
effects:
  - {on: tau, factor: norm_position, levels: {pre: -0.223}, along: {variable: n_train_samples, at: 1000, per_e_fold: {pre: 0.1}}}
noise: {tau_shared: 0.05, tau_arm: 0.04}
"""

FADING_STUDY = """
hypothesis:
  claim: "Pre-norm's head start fades as data grows"
  predictions:
    - "Val loss converges 20% faster with pre-norm vs post-norm at N < 1000 samples"
    - "Effect diminishes at N > 1000 samples"
  initial_config:
    model: transformer_tiny
    dataset: synthetic
    norm_position: [pre, post]
    dataset_fraction: [0.05, 0.15, 0.5, 1.0]
    seq_len: 64
    batch_size: 16
    max_steps: 300
    eval_interval: 10
"""


@pytest.fixture(scope="module")
def fading_study(tmp_path_factory):
    """True crossing of 0.80x at N = 1000 (the simulator's smooth effect), four data sizes."""
    import loop

    root = tmp_path_factory.mktemp("fading")
    (root / "truth.yaml").write_text(FADING_TRUTH)
    (root / "h.yaml").write_text(FADING_STUDY)
    assert loop.main(["--hypothesis", str(root / "h.yaml"), "--executor", "sim", "--sim",
                      str(root / "truth.yaml"), "--max-experiments", "24", "--out", str(root / "run")]) == 0
    return root / "run"


def test_a_study_along_four_data_sizes_reports_where_the_effect_crosses(fading_study):
    graph = json.loads((fading_study / "trajectory.json").read_text())
    found = [p["found"]["curve"] for p in graph["predictions"]]
    assert all(c and c["variable"] == "n_train_samples" for c in found)
    assert len({x for x, _ in found[0]["points"]}) >= 3
    assert found[0]["crossing"]["value"] == pytest.approx(1000, rel=1.0)
    report = (fading_study / "report.md").read_text()
    assert "Along n_train_samples: " in report and "](figures/effect_curves.png)" in report
    assert (fading_study / "figures" / "effect_curves.png").read_bytes().startswith(b"\x89PNG")


def test_chromium_draws_one_effect_curve_per_comparison_with_each_pair(fading_study):
    from tests.test_dashboard import chromium

    dom = chromium("--dump-dom", (fading_study / "dashboard.html").as_uri())
    assert 'id="render-error"' not in dom
    plots = re.findall(r'<svg [^>]*class="effect-curve" data-pid="(\w+)">(.*?)</svg>', dom, re.S)
    assert [pid for pid, _ in plots] == ["p1"]  # p2 reads p1's comparison: one plot
    curve = json.loads((fading_study / "trajectory.json").read_text())["predictions"][0]["found"]["curve"]
    body = plots[0][1]
    assert body.count('class="pair"') == len(curve["points"])
    assert body.count('class="band"') == 1 and body.count('class="crossing"') == int(curve["crossing"]["bounded"])


def narrowing(claim_below: float, records, op="<"):
    from trajectory.evolve import narrowed

    p1 = comparison(threshold=0.2, condition=Condition(variable="n_train_samples", op=op, value=claim_below))
    verdict = assess_all([p1], records)["p1"]
    return verdict, narrowed(p1, verdict, {"p1": p1}, records, records[-1].experiment_id)


def test_a_claim_over_a_region_wider_than_its_effect_is_narrowed_to_the_curves_crossing():
    """True 0.80x crossing at N = 1,500; "20% faster at N < 20,000" is too wide: the refined
    claim is "at N < 1,400" (the estimate rounded down to two digits), judged on later runs."""
    verdict, refined = narrowing(20000, fading())
    assert verdict.status != "confirmed"
    assert refined is not None and refined.id == "p1.curve" and refined.parent == "p1"
    value = refined.spec.condition.value
    assert 1300 <= value <= 1500
    assert refined.spec.condition.op == "<" and refined.spec.threshold == 0.2
    assert refined.after == "exp_0024"
    assert f"[refined: at n_train_samples < {value:,.0f}, not < 20,000]" in refined.text
    assert "a line through 12 pairs" in refined.reason and "crosses 0.80×" in refined.reason


def test_no_narrowing_without_a_placed_crossing_inside_the_region_or_against_the_curve():
    assert narrowing(20000, fading(per_e_fold=0.0, cross=1e9))[1] is None  # flat: no crossing
    assert narrowing(1200, fading())[1] is None  # the crossing's interval reaches past the region's edge
    assert narrowing(20000, fading(per_e_fold=-0.1))[1] is None  # the effect grows with N: holds above
    # ... so "> 200" narrows (the crossing at 2,000: averaged over the region's four sizes the
    # claim fails; at 1,500 it holds on average, and is confirmed rather than narrowed)
    assert narrowing(200, fading(per_e_fold=-0.1, cross=2000.0), op=">")[1] is not None
    assert narrowing(20000, fading(sizes=(300, 3000)))[1] is None  # two values: no curve


def test_a_study_narrows_a_too_wide_claim_to_where_its_curve_crosses(tmp_path):
    """Through the loop: a range of data fractions, the true crossing at N = 1000 and a claim
    "at N < 3000"; the refined claim is in the trajectory and the report (and, being
    deterministic, rebuilt from the log on resume like every refinement)."""
    import loop

    (tmp_path / "truth.yaml").write_text(FADING_TRUTH)
    (tmp_path / "h.yaml").write_text(FADING_STUDY.replace("at N < 1000 samples", "at N < 3000 samples").replace(
        "dataset_fraction: [0.05, 0.15, 0.5, 1.0]", "dataset_fraction: {low: 0.05, high: 1.0, log: true, points: 4}"))
    assert loop.main(["--hypothesis", str(tmp_path / "h.yaml"), "--executor", "sim", "--sim",
                      str(tmp_path / "truth.yaml"), "--max-experiments", "24", "--out", str(tmp_path / "run"),
                      "--quiet"]) == 0
    graph = json.loads((tmp_path / "run" / "trajectory.json").read_text())
    refined = {p["id"]: p for p in graph["predictions"]}["p1.curve"]
    value = refined["spec"]["condition"]["value"]
    assert refined["parent"] == "p1" and 500 <= value < 3000
    assert re.search(r"crosses 0\.80× at n_train_samples ≈ [\d,]+ \[[\d,]+, [\d,]+\], inside its region", refined["reason"])
    assert f"p1.curve refines p1 after {refined['after']}" in (tmp_path / "run" / "report.md").read_text()


def _placing(xs, estimate, grid=(0.05, 1.0)):
    from parser.ranges import FactorRange
    from planner.space import Space
    from trajectory.curves import placement

    space = Space({"norm_position": ["pre", "post"], "dataset_fraction": list(grid), "model": ["transformer_tiny"],
                   "dataset": ["synthetic"]}, ranges={"dataset_fraction": FactorRange(low=0.05, high=1.0, log=True)})
    curve = {"variable": "dataset_fraction", "log": True, "points": [[x, 0.0] for x in xs],
             "crossing": {"value": estimate, "low": None, "high": None, "bounded": False},
             "text": "the effect crosses 0.80× at dataset_fraction ≈ x [a, b]"}
    return placement(curve, space, [])


def test_the_placed_value_is_where_one_more_pair_narrows_the_crossing_most():
    """Pairs at the two ends and a crossing halfway (in log x): one more pair there adds
    nothing to the slope's spread but takes the 1/n term down at the crossing itself, so
    the crossing's estimate is the best value; a crossing past the data pulls the
    choice beyond the data, towards it."""
    middle = math.sqrt(0.05 * 1.0)
    found = _placing([0.05] * 4 + [1.0] * 4, middle)
    assert found and found[0] == "dataset_fraction" and found[1] == pytest.approx(middle, rel=0.01)
    assert "one more pair there narrows that most" in found[2]
    beyond = _placing([0.05, 0.07, 0.1] * 2, 0.5, grid=(0.05, 0.07, 0.1))
    assert beyond and beyond[1] > 0.1
    assert _placing([0.05] * 4 + [1.0] * 4, 0.98) is None  # best beside an end the grid has: nothing to add
