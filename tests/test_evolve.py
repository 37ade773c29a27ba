import json
import re

from parser.checker.verdicts import assess_all
from parser.schema import Hypothesis
from planner.space import Space
from tests.records import comparison, pairs, record
from trajectory.evolve import evolve
from trajectory.render import tree
from trajectory.study import open_study

GRID = {"model": "transformer_small", "dataset": "synthetic", "norm_position": ["pre", "post"],
        "learning_rate": [1e-4, 3e-4], "dataset_fraction": [0.1]}


def hypothesis(*predictions):
    return Hypothesis(claim="pre-norm helps", predictions=list(predictions), initial_config=GRID)


def twenty_percent_better(n=5, lr=3e-4, start=1):
    """n pairs at `lr`, or (a tuple) at each of its learning rates in turn: every cell of the grid,
    as a study needs before it decides on the region they make up."""
    ratios = [0.80, 0.81, 0.79, 0.80, 0.82, 0.78][:n]
    lrs = lr if isinstance(lr, tuple) else (lr,)
    out, k = [], start
    for i, r in enumerate(ratios):
        at, seed = lrs[i % len(lrs)], i // len(lrs)
        out += [record(f"exp_{k:04d}", "pre", seed, 2.0 * r, lr=at),
                record(f"exp_{k + 1:04d}", "post", seed, 2.0, lr=at)]
        k += 2
    return out


def changes_after(h, records):
    verdicts = assess_all(h.predictions, records)
    return evolve([h], verdicts, records, {k: v if isinstance(v, list) else [v] for k, v in GRID.items()})


def test_a_refuted_prediction_with_a_real_smaller_effect_is_refined_to_the_supported_bound():
    h = hypothesis(comparison(threshold=0.5))
    records = twenty_percent_better()
    [refined] = changes_after(h, records)
    assert refined.parent == "p1" and refined.after == records[-1].experiment_id
    assert 0.1 <= refined.spec.threshold < 0.2  # no stronger than the data's lower bound
    assert "refined" in refined.text and "real" in refined.reason


def test_a_refuted_prediction_without_a_real_effect_stays_as_it_is():
    h = hypothesis(comparison(threshold=0.5))
    no_effect = pairs([(2.0, 2.0), (2.02, 2.0), (1.98, 2.0), (2.01, 2.0), (1.99, 2.0)])
    assert changes_after(h, no_effect) == []


def test_an_effect_that_differs_across_another_factor_spawns_a_child_hypothesis():
    h = hypothesis(comparison(threshold=0.05))
    strong = twenty_percent_better(lr=3e-4)
    none = pairs([(2.0, 2.0), (2.01, 2.0), (1.99, 2.0), (2.0, 2.0), (2.01, 2.0)], start=11)
    none = [r.model_copy(update={"config": dict(r.config, learning_rate=1e-4)}) for r in none]
    changes = changes_after(h, strong + none)
    [child] = [c for c in changes if isinstance(c, Hypothesis)]
    assert child.parent == "H1" and "learning_rate" in child.claim
    [scoped] = child.predictions
    assert scoped.spec.kind == "interaction" and scoped.spec.of == "p1"
    assert scoped.spec.condition.variable == "learning_rate" and scoped.spec.condition.value == 1e-4


def test_new_predictions_are_judged_only_on_runs_after_they_were_made(tmp_path):
    h = hypothesis(comparison(threshold=0.5))
    records = twenty_percent_better(6, lr=(3e-4, 1e-4))
    log = tmp_path / "run" / "research_log.jsonl"
    log.parent.mkdir()
    log.write_text("".join(r.model_dump_json() + "\n" for r in records))
    study = open_study(tmp_path / "run", h, Space({k: v if isinstance(v, list) else [v]
                                                    for k, v in GRID.items()}), "", resume=True)
    study.close()
    assert [p.id for p in study.predictions] == ["p1", "p1.1"]
    refined = study.predictions[1]
    later = [r.experiment_id for r in records if r.experiment_id > refined.after]
    verdict = study.verdicts["p1.1"]
    assert verdict.n_pairs == len(later) // 2 < 5  # the data that suggested it doesn't count
    assert set(verdict.pairs) == set(later)


def test_evolution_is_replayed_identically_and_shows_in_trajectory_and_tree(tmp_path):
    h = hypothesis(comparison(threshold=0.5))
    run = tmp_path / "run"
    run.mkdir()
    (run / "research_log.jsonl").write_text("".join(r.model_dump_json() + "\n"
                                                    for r in twenty_percent_better(6, lr=(3e-4, 1e-4))))
    space = lambda: Space({k: v if isinstance(v, list) else [v] for k, v in GRID.items()})  # noqa: E731
    first = open_study(run, h, space(), "", resume=True)
    first.close()
    again = open_study(run, h, space(), "", resume=True)
    assert [p.model_dump() for p in first.predictions] == [p.model_dump() for p in again.predictions]
    graph = json.loads((run / "trajectory.json").read_text())
    assert {"from": "p1", "to": "p1.1", "kind": "refines"} in graph["edges"]
    assert "p1.1" in tree(graph) and "from p1" in tree(graph)


def test_a_refinement_states_the_smaller_effect_it_confirmed_as_a_ratio():
    [refined] = changes_after(hypothesis(comparison(threshold=0.5)), twenty_percent_better())
    assert re.fullmatch(r"p1's pre/post final_val_loss is 0\.\d\d× \[0\.\d\d, 0\.\d\d\] \(90% interval, 5 pairs\): "
                        r"real \(e-value \S+ for ratio < 1\.00\) but smaller than the ratio < 0\.50 claimed; "
                        r"refined to ratio < 0\.\d\d, the end of its interval nearest no effect", refined.reason)
    assert f"ratio < {1 - refined.spec.threshold:.2f}," in refined.reason


def strong_at_one_rate_none_at_the_other():
    none = pairs([(2.0, 2.0), (2.01, 2.0), (1.99, 2.0), (2.0, 2.0), (2.01, 2.0)], start=11)
    return twenty_percent_better(lr=3e-4) + [r.model_copy(update={"config": dict(r.config, learning_rate=1e-4)})
                                             for r in none]


def test_a_child_and_its_scoped_prediction_state_each_levels_ratio_and_the_difference():
    changes = changes_after(hypothesis(comparison(threshold=0.05)), strong_at_one_rate_none_at_the_other())
    [child] = [c for c in changes if isinstance(c, Hypothesis)]
    [scoped] = child.predictions
    assert scoped.reason == child.reason
    assert re.match(r"p1's pre/post final_val_loss is 1\.\d\d× \[.*\] at learning_rate=0\.0001 and 0\.8\d× \[.*\] "
                    r"at learning_rate=0\.0003: weaker at learning_rate=0\.0001 by 1\.\d\d× \[.*\] \(90% intervals\), "
                    r"confidence \d\.\d\d, e-value \S+ for a weaker effect at learning_rate=0\.0001$", scoped.reason)


def test_the_report_gives_every_evolved_prediction_its_reason(tmp_path):
    from trajectory import document

    run = tmp_path / "run"
    run.mkdir()
    (run / "research_log.jsonl").write_text("".join(r.model_dump_json() + "\n"
                                                    for r in strong_at_one_rate_none_at_the_other()))
    study = open_study(run, hypothesis(comparison(threshold=0.05)),
                       Space({k: v if isinstance(v, list) else [v] for k, v in GRID.items()}), "", resume=True)
    study.close()
    items = document.trajectory_items(json.loads((run / "trajectory.json").read_text()))
    scoped = [i for i in items if i.startswith("p1@learning_rate scopes p1")]
    assert scoped and "no reason given" not in " ".join(map(str, items))
