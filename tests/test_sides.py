"""Every e-value says which side it is for, in the prediction's own terms (trajectory/sides.py)."""
import atexit
import contextlib
import io
import re
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from rich.console import Console

import loop
from parser.checker.verdicts import Verdict
from parser.schema import Condition, PredictionSpec
from tests.records import comparison, interaction
from tests.sim_study import ROOT
from trajectory import report, sides
from trajectory.live import LiveView, PlainView
from trajectory.render import tree

# a number after "e-value" that no side follows (atomic, so a shorter number can't dodge the check)
BARE = re.compile(r"e-value (\d\S*+)(?! (?:for|against) )")

# the quickstart's truth (pre/post steps 0.74× where N < 1000): one of each outcome and kind
PREDICTIONS = [
    "Val loss converges 20% faster with pre-norm vs post-norm at N < 1000 samples",  # undecided, for
    "Val loss converges 70% faster with pre-norm vs post-norm at N < 1000 samples",  # refuted (and refined)
    "Effect diminishes at N > 2000 samples",  # an interaction
    "No difference in val loss between pre-norm and post-norm within 5%",  # confirmed equivalence
    "Val loss below 2.5 with pre-norm",  # confirmed bound
]


@lru_cache(maxsize=None)
def study() -> Path:
    import yaml

    root = Path(tempfile.mkdtemp(prefix="sides-"))
    atexit.register(shutil.rmtree, root, True)
    hypothesis = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    hypothesis["hypothesis"]["predictions"] = PREDICTIONS
    source = root / "h.yaml"
    source.write_text(yaml.safe_dump(hypothesis, sort_keys=False))
    with contextlib.redirect_stdout(io.StringIO()):
        assert loop.main(["--hypothesis", str(source), "--executor", "sim", "--sim",
                          str(ROOT / "examples" / "sim_truth.yaml"), "--max-experiments", "16",
                          "--out", str(root / "run")]) == 0
    return root / "run"


def graph() -> dict:
    import json

    return json.loads((study() / "trajectory.json").read_text())


def bare(text: str) -> list[str]:
    return [m.group(0) for m in BARE.finditer(text)]


def test_the_study_has_a_confirmed_a_refuted_and_an_undecided_prediction():
    assert {"confirmed", "refuted", "undecided"} <= {p["status"] for p in graph()["predictions"]}


def test_the_tree_the_reports_and_the_status_give_every_e_value_its_side():
    run = study()
    texts = {"tree": tree(graph()), "report.md": (run / "report.md").read_text(),
             "report.tex": (run / "report.tex").read_text(), "status": report.status(run)}
    for name, text in texts.items():
        assert "e-value" in text and bare(text) == [], name


def test_the_dashboard_data_gives_every_e_value_its_side():
    from tests.test_dashboard import embedded

    g = embedded((study() / "dashboard.html").read_text())["graph"]
    sided = [p["found"]["evidence"]["text"] for p in g["predictions"] if p["evidence"] is not None]
    assert sided and all(not bare(text) for text in sided)


def test_chromium_shows_no_e_value_without_its_side():
    from tests.test_dashboard import rendered

    dom = rendered(study())
    assert "e-value" in dom and bare(dom) == []


def test_the_live_panel_and_the_plain_line_give_every_e_value_its_side():
    s = report.replay_readonly(study())
    view = LiveView(io.StringIO())
    try:
        view.verdicts, view.predictions = s.verdicts, s.predictions
        screen = io.StringIO()
        Console(file=screen, width=400).print(view._render())
    finally:
        view.close()
    plain = io.StringIO()
    PlainView(plain).end_run(s.records[-1], s.verdicts, 16, 16, s.predictions)
    for text in (screen.getvalue(), plain.getvalue()):
        assert bare(text) == []
    assert "e-value" in screen.getvalue()


def test_a_refuted_comparison_shows_its_e_value_against_the_claim_in_its_ratio():
    refuted = next(p for p in graph()["predictions"] if p["status"] == "refuted")
    assert refuted["found"]["evidence"]["text"].endswith("against the claim (ratio ≥ 0.30)")


def test_a_confirmed_prediction_shows_its_e_value_for_the_claim():
    for p in (p for p in graph()["predictions"] if p["status"] == "confirmed"):
        assert " for the claim (" in p["found"]["evidence"]["text"]


def test_the_side_follows_the_confidence_the_verdict_leans_to():
    spec = comparison(threshold=0.2).spec
    leaning_for = sides.of_verdict(spec, None, Verdict("p1", "undecided", 0.7, evidence=3.0))
    leaning_against = sides.of_verdict(spec, None, Verdict("p1", "undecided", 0.3, evidence=1240.0))
    assert leaning_for["text"] == "e-value 3 for the claim (ratio < 0.80)"
    assert leaning_against["text"] == "e-value 1.24e+03 against the claim (ratio ≥ 0.80)"


def test_each_kind_states_its_sides_in_its_own_terms():
    absolute = comparison(threshold=0.05, relative=False).spec
    equivalence = comparison(threshold=0.05).spec.model_copy(update={"kind": "equivalence"})
    bound = PredictionSpec(kind="bound", metric="final_val_loss", threshold=2.5, factor="norm_position", arm="pre")
    drop = interaction(condition=Condition(variable="n_train_samples", op=">", value=2000), margin=0.05).spec
    assert (sides.rule(absolute), sides.rule(absolute, for_claim=False)) == ("difference < -0.05",
                                                                              "difference ≥ -0.05")
    assert sides.rule(equivalence, for_claim=False) == "ratio outside [0.952, 1.050]"
    assert sides.rule(bound, for_claim=False) == "mean final_val_loss ≥ 2.5"
    assert sides.rule(drop, comparison().spec) == "effect weaker by > 1.05× where n_train_samples > 2000"


def test_without_its_prediction_an_e_value_still_names_its_side():
    assert sides.of_verdict(None, None, Verdict("p1", "undecided", 0.2, evidence=4.2))["text"] == \
        "e-value 4.2 against the claim"
