"""Numeric factors given as ranges ({low, high, log, step, points}, Optuna's terms): the
starting values, the checks that refuse a bad range at load, and a study over one."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from parser.hypothesis import HypothesisError, load_hypothesis
from parser.ranges import FactorRange
from tests.test_hypothesis import _write

ROOT = Path(__file__).resolve().parent.parent
P1 = "Val loss converges 20% faster with pre-norm vs post-norm at N < 1000 samples"


def study(**config):
    return {"hypothesis": {"claim": "c", "predictions": [P1], "initial_config": {
        "model": "transformer_tiny", "dataset": "synthetic", "norm_position": ["pre", "post"], **config}}}


def test_a_log_range_starts_from_five_log_spaced_values_ends_included(tmp_path):
    h = load_hypothesis(_write(tmp_path, study(learning_rate={"low": 1e-4, "high": 1e-2, "log": True})))
    assert h.initial_config["learning_rate"] == [1e-4, 3.162e-4, 1e-3, 3.162e-3, 1e-2]
    assert h.ranges["learning_rate"]["low"] == 1e-4 and h.ranges["learning_rate"]["log"] is True


def test_an_integer_range_takes_its_step_and_stays_integer(tmp_path):
    h = load_hypothesis(_write(tmp_path, study(n_layer={"low": 1, "high": 8, "step": 2})))
    assert h.initial_config["n_layer"] == [1, 3, 5, 7]
    assert all(type(v) is int for v in h.initial_config["n_layer"])


def test_points_sets_how_many_values_a_range_starts_from(tmp_path):
    h = load_hypothesis(_write(tmp_path, study(dataset_fraction={"low": 0.1, "high": 1.0, "points": 3})))
    assert h.initial_config["dataset_fraction"] == [0.1, 0.55, 1.0]


def test_a_range_knows_which_values_are_inside_it():
    r = FactorRange(low=1, high=8, step=2, integer=True)
    assert [r.contains(x) for x in (1, 3, 4, 7, 8, 9)] == [True, True, False, True, False, False]
    assert FactorRange(low=1e-4, high=1e-2, log=True).contains(5e-3)


BAD = [
    ({"learning_rate": {"low": 1e-2, "high": 1e-4}}, "learning_rate: low must be below high, got low 0.01, high 0.0001"),
    ({"learning_rate": {"low": 0, "high": 1e-2, "log": True}}, "learning_rate: log: true needs low > 0"),
    ({"dataset_fraction": {"low": 0.1, "high": 2.0}}, "dataset_fraction: must be in (0, 1], got 2.0"),
    ({"n_layer": {"low": 1.5, "high": 8}}, "n_layer: an integer field needs integer ends"),
    ({"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True, "step": 1e-3}}, "learning_rate: step and log"),
    ({"learning_rate": {"low": 1e-4, "high": 1e-2, "scale": "log"}}, "learning_rate: unknown range key 'scale'"),
    ({"learning_rate": {"low": 1e-4, "high": float("inf")}}, "learning_rate: low and high must be finite"),
    ({"learning_rate": {"low": 1e-4, "high": 1e-2, "points": 1}}, "learning_rate: points: Input should be greater"),
    ({"optimizer": {"low": 1, "high": 2}}, "optimizer: a range needs a numeric field; optimizer takes str"),
]


@pytest.mark.parametrize("config, message", BAD, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD)])
def test_a_bad_range_is_refused_at_load_naming_the_field(tmp_path, config, message):
    path = _write(tmp_path, study(**config))
    with pytest.raises(HypothesisError) as info:
        load_hypothesis(path)
    assert str(info.value).startswith(f"{path}: hypothesis.initial_config.{message}"), str(info.value)


def test_through_the_cli_a_bad_range_exits_2_and_writes_nothing(tmp_path):
    path = _write(tmp_path, study(learning_rate={"low": 1e-2, "high": 1e-4, "log": True}))
    done = subprocess.run([sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(path), "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2 and "hypothesis.initial_config.learning_rate: low must be below high" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def fading_range_study(tmp_path, points: int, budget: int) -> Path:
    """A simulated study over a range of dataset fractions; the pre/post steps ratio is 0.80x at
    N = 1000 and fades as N grows (tests/test_curves.py's truth). Its run directory."""
    import loop
    from tests.test_curves import FADING_TRUTH

    h = study(dataset_fraction={"low": 0.05, "high": 1.0, "log": True, "points": points},
              seq_len=64, batch_size=16, max_steps=300, eval_interval=10)
    h["hypothesis"]["predictions"].append("Effect diminishes at N > 1000 samples")
    path = _write(tmp_path, h, "range.yaml")
    (tmp_path / "truth.yaml").write_text(FADING_TRUTH)
    out = tmp_path / "run"
    assert loop.main(["--hypothesis", str(path), "--executor", "sim", "--sim", str(tmp_path / "truth.yaml"),
                      "--max-experiments", str(budget), "--out", str(out)]) == 0
    return out


def logged_fractions(out: Path) -> set:
    runs = [json.loads(line) for line in (out / "research_log.jsonl").read_text().splitlines()]
    return {r["config"]["dataset_fraction"] for r in runs if "config" in r}


def test_a_study_over_a_data_size_range_runs_and_reports_the_effect_along_it(tmp_path):
    """On the simulator: a range of dataset fractions, the interaction read as a curve."""
    out = fading_range_study(tmp_path, points=4, budget=20)
    graph = json.loads((out / "trajectory.json").read_text())
    placed = {e["value"] for e in graph["space_extensions"]}
    fractions = logged_fractions(out)
    assert fractions <= {0.05, 0.1357, 0.3684, 1.0} | placed and len(fractions) >= 3
    assert graph["hypotheses"][0]["ranges"]["dataset_fraction"]["log"] is True
    assert graph["predictions"][0]["found"]["curve"]["variable"] == "n_train_samples"
    assert "dataset_fraction: range [0.05, 1], log" in (out / "report.md").read_text()


# ---- the LLM planner inside a declared range --------------------------------------------

LR_RANGE = {"low": 1e-4, "high": 1e-2, "log": True}


def llm_propose(stub, reply_space):
    from parser.checker.verdicts import assess_all
    from planner.llm import Chat, LLMPlanner
    from planner.offline import OfflinePlanner
    from tests.records import comparison

    predictions = [comparison("p1")]
    planner = LLMPlanner(OfflinePlanner(), Chat(stub.url, "stub", 2.0))
    return planner.propose(predictions, assess_all(predictions, []), [], reply_space)


def range_space():
    from parser.ranges import FactorRange
    from planner.space import Space

    span = FactorRange(**LR_RANGE)
    return Space({"model": ["transformer_tiny"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
                  "learning_rate": span.values()}, ranges={"learning_rate": span})


def own_lr(lr):
    return {"candidate": None, "config": {"norm_position": "pre", "learning_rate": lr}, "seed": 3,
            "targets": ["p1"], "rationale": "between the grid's values"}


def test_the_llm_may_propose_a_value_inside_a_range_that_the_grid_does_not_hold():
    from tests.stub_openai import StubServer, ok

    with StubServer(ok(own_lr(0.0021234))) as stub:
        proposal = llm_propose(stub, range_space())
        body = stub.requests[0]
    assert proposal.planner == "llm"
    assert [r["learning_rate"] for r in proposal.runs] == [0.002123, 0.002123]  # snapped to 4 digits
    schema = json.dumps(body["response_format"])
    assert '"learning_rate": {"type": "number", "minimum": 0.0001, "maximum": 0.01}' in schema
    assert "learning_rate: any value in the range [0.0001, 0.01], log" in body["messages"][1]["content"]


def test_a_value_outside_the_range_gets_one_repair_then_the_offline_choice():
    from tests.stub_openai import StubServer, ok

    with StubServer(ok(own_lr(0.5)), ok(own_lr(2e-5))) as stub:
        proposal = llm_propose(stub, range_space())
        repair = stub.requests[1]["messages"][-1]["content"]
    assert "config.learning_rate = '0.5' is outside its range [0.0001, 0.01], log" in repair
    assert proposal.planner == "offline-fallback"
    assert "is outside its range" in proposal.llm["reason"]
    assert all(r["learning_rate"] in range_space().grid["learning_rate"] for r in proposal.runs)


def test_a_study_takes_the_llm_value_into_its_grid_and_a_resume_rebuilds_it(tmp_path):
    import loop
    from tests.stub_openai import StubServer, ok

    h = study(learning_rate=LR_RANGE, dataset_fraction=0.1, seq_len=64, batch_size=16, max_steps=100,
              eval_interval=10)
    path = _write(tmp_path, h, "range.yaml")
    args = ["--hypothesis", str(path), "--executor", "sim", "--sim", str(ROOT / "examples" / "sim_truth.yaml"),
            "--out", str(tmp_path / "run")]
    with StubServer(ok(own_lr(0.002)), default=ok(own_lr(0.002) | {"seed": 4})) as stub:
        assert loop.main([*args, "--max-experiments", "4", "--llm-base-url", stub.url, "--llm-model", "stub"]) == 0
    graph = json.loads((tmp_path / "run" / "trajectory.json").read_text())
    (gained,) = graph["space_extensions"]
    assert (gained["factor"], gained["value"], gained["after"]) == ("learning_rate", 0.002, "exp_0001")
    assert "inside its range [0.0001, 0.01], log" in gained["reason"]
    assert loop.main([*args, "--max-experiments", "6", "--resume"]) == 0  # offline from here on
    again = json.loads((tmp_path / "run" / "trajectory.json").read_text())
    assert again["space_extensions"][0] == gained


def test_a_data_size_range_adds_no_value_where_the_grid_already_has_the_best_place(tmp_path):
    """Three starting fractions (N = 154, 688, 3076); the true crossing of 0.80x is at N = 1000.
    The planner spends its pairs on the small fractions (where "20% faster at N < 1000"
    is judged), so one more pair narrows the crossing most at the far end, N = 3076, which
    the grid holds: nothing is added, and the study runs only grid fractions
    (tests/test_curves.py has the rule's closed-form cases)."""
    out = fading_range_study(tmp_path, points=3, budget=40)
    graph = json.loads((out / "trajectory.json").read_text())
    assert not [e for e in graph["space_extensions"] if "to place where the effect crosses" in e["reason"]]
    assert logged_fractions(out) == {0.05, 0.2236, 1.0}
    curve = graph["predictions"][0]["found"]["curve"]
    assert curve["crossing"]["bounded"] and 500 < curve["crossing"]["value"] < 2000
