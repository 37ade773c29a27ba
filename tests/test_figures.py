"""PNG figures beside the report: confidence, val-loss curves by arm, effects."""
import sys

from tests.records import comparison, pairs
from tests.sim_study import finished_study
from trajectory import figures


def test_a_finished_study_has_its_three_figures_referenced_by_the_report():
    run = finished_study()
    for name in ("confidence.png", "val_curves.png", "effects.png"):
        assert (run / "figures" / name).read_bytes().startswith(b"\x89PNG")
        assert f"](figures/{name})" in (run / "report.md").read_text()


def test_without_matplotlib_the_figures_are_skipped_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert figures.draw(tmp_path, {"predictions": [], "experiments": []}, []) == []
    assert capsys.readouterr().out == "figures skipped: matplotlib is not installed (pip install matplotlib)\n"


def test_val_loss_curves_are_grouped_by_the_compared_factor():
    graph = {"predictions": [{"spec": comparison().spec.model_dump()}]}
    arms = figures.curves_by_arm(pairs([(2.0, 2.2), (2.1, 2.3)]), figures.compared_factor(graph))
    assert sorted(arms) == ["post", "pre"] and len(arms["pre"]) == 2


def test_a_study_whose_runs_all_failed_draws_its_figures_without_a_library_warning(tmp_path):
    import warnings

    graph = {"predictions": [{"id": "p1", "status": "untested", "history": [], "effect": None, "interval": None,
                              "spec": comparison().spec.model_dump()}],
             "experiments": [{"id": "exp_0001"}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels found" would raise here
        drawn = figures.draw(tmp_path, graph, [])
    assert len(drawn) == 3 and all((tmp_path / path).read_bytes().startswith(b"\x89PNG") for path, _ in drawn)


def test_the_effects_figure_draws_a_ratio_beside_its_threshold_and_an_interaction_as_how_much_weaker():
    import json

    g = json.loads((finished_study() / "trajectory.json").read_text())
    panels = dict(figures.effect_panels(g))
    [(p1, ratio)] = panels["pre/post steps_to_target"]
    assert p1["id"] == "p1" and ratio["unit"] == "×" and ratio["rule"] == {"op": "<", "value": 0.8}
    assert f"{ratio['estimate']:.2f}×" in p1["found"]["text"]  # the number the text shows, not a log-score
    [(p2, weaker)] = panels["p2: the effect is weaker where n_train_samples > 2000 by"]
    assert weaker == p2["found"]["effect"]["drop"] and weaker["rule"]["value"] == 1.05


def test_an_absolute_comparison_is_drawn_as_its_difference_in_the_metrics_units(tmp_path):
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trajectory import effects

    spec = comparison(threshold=0.02, relative=False).spec
    found = effects.comparison(spec, 0.031, (0.022, 0.040)).as_dict()  # the benefit of 0.031: pre lower by it
    graph = {"predictions": [{"id": "p1", "status": "confirmed", "spec": spec.model_dump(), "found": {"effect": found}}]}
    [(label, [(_, drawn)])] = figures.effect_panels(graph)
    assert label == "pre - post final_val_loss" and drawn["estimate"] == -0.031 and drawn["rule"]["value"] == -0.02
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figures._effects(plt, graph, tmp_path / "effects.png")
    assert (tmp_path / "effects.png").read_bytes().startswith(b"\x89PNG")
