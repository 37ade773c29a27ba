"""dashboard.html: self-contained, rewritten after each run, rendered by a real browser."""
import functools
import json
import re
import shutil
import subprocess
import tempfile

import pytest

from parser.hypothesis import load_hypothesis, search_space
from planner.space import Space
from tests.records import pairs
from tests.sim_study import ROOT, finished_study, long_study
from trajectory import dashboard
from trajectory.study import open_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def tiny_graph(stop_reason=None, claim="c"):
    return {"hypotheses": [{"id": "H1", "claim": claim}], "predictions": [], "experiments": [],
            "edges": [], "stop_reason": stop_reason}


def embedded(page: str) -> dict:
    body = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    return json.loads(body)


def chromium(*args: str) -> str:
    if not CHROMIUM:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=60)
    return done.stdout


def test_the_page_loads_nothing_from_outside():
    page = (finished_study() / "dashboard.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)


def test_a_running_study_reloads_itself_and_a_stopped_one_does_not():
    assert dashboard.REFRESH in dashboard.html(tiny_graph(), [])
    assert dashboard.REFRESH not in dashboard.html(tiny_graph("budget spent"), [])


def test_text_that_closes_a_script_tag_stays_inside_the_embedded_json():
    page = dashboard.html(tiny_graph(claim="</script><script>alert(1)</script>"), [])
    assert embedded(page)["graph"]["hypotheses"][0]["claim"] == "</script><script>alert(1)</script>"


def test_a_diverged_curve_embeds_as_null_not_nan():
    records = pairs([(2.0, 2.1)])
    records[0].metrics["val_curve"] = [[0, 5.0], [100, float("nan")]]
    graph = dict(tiny_graph(), experiments=[])
    assert embedded(dashboard.html(graph, records))["curves"]["all"][0]["curve"][1] == [100, None]


def test_the_dashboard_is_rewritten_after_each_experiment(tmp_path):
    h = load_hypothesis(ROOT / "examples" / "quickstart.yaml")
    study = open_study(tmp_path / "run", h, Space(search_space(h)), "", resume=False)
    study.append(pairs([(2.0, 2.1)])[0])
    study.close()
    page = (tmp_path / "run" / "dashboard.html").read_text()
    assert len(embedded(page)["graph"]["experiments"]) == 1 and dashboard.REFRESH in page


@functools.lru_cache(maxsize=None)
def rendered(run_dir, fragment: str = "") -> str:
    """The DOM chromium renders from the page at that address (once: the tests only read it)."""
    dom = chromium("--dump-dom", (run_dir / "dashboard.html").as_uri() + fragment)
    assert 'data-rendered="ok"' in dom, dom[-2000:]
    assert 'id="render-error"' not in dom and 'id="script-errors"' not in dom
    return dom


def trajectory_of(run_dir) -> dict:
    return json.loads((run_dir / "trajectory.json").read_text())


@pytest.mark.parametrize("study", [finished_study, long_study], ids=["12 runs", "200 runs"])
def test_chromium_shows_a_verdict_card_per_prediction_with_its_effect_in_its_own_terms(study):
    dom, g = rendered(study()), trajectory_of(study())
    cards = re.findall(r'<div class="card (\w+)" data-pid="([^"]+)">(.*?)Definition:', dom, re.S)
    assert [(status, pid) for status, pid, _ in cards] == [(p["status"], p["id"]) for p in g["predictions"]]
    p1 = cards[0][2]
    assert re.search(r"pre/post steps_to_target \d\.\d\d× \[\d\.\d\d, \d\.\d\d\]; needs &lt; 0\.80", p1)
    assert "e-value" in p1 and "pairs" in p1 and "confidence" in p1


@pytest.mark.parametrize("study", [finished_study, long_study], ids=["12 runs", "200 runs"])
def test_chromium_draws_a_forest_plot_row_per_design_cell(study):
    dom, g = rendered(study()), trajectory_of(study())
    for p in g["predictions"]:
        if not p["found"]["cells"]:
            continue
        plot = re.search(rf'<svg [^>]*class="forest" data-pid="{re.escape(p["id"])}">(.*?)</svg>', dom, re.S).group(1)
        summaries = 2 if p["spec"]["kind"] == "interaction" else 1
        assert plot.count('class="forest-row"') == len(p["found"]["cells"])
        assert plot.count('class="forest-row summary"') == summaries


@pytest.mark.parametrize("study", [finished_study, long_study], ids=["12 runs", "200 runs"])
def test_the_graph_draws_hypotheses_predictions_cells_and_one_node_per_pair_not_per_run(study):
    dom, g = rendered(study()), trajectory_of(study())
    kinds = re.findall(r'class="node" data-kind="(\w+)"', dom)
    cells = [c for p in g["predictions"] for c in p["found"]["cells"]]
    assert kinds.count("hypothesis") == len(g["hypotheses"]) and kinds.count("prediction") == len(g["predictions"])
    assert kinds.count("cell") == len(cells) and kinds.count("pair") == sum(len(c["pairs"]) for c in cells)
    assert "experiment" not in kinds
    first = cells[0]["pairs"][0]
    a, b = first["ids"]
    assert f'data-kind="pair" data-id="{a}+{b}"><rect' in dom and f"<title>{a} + {b}, seed {first['seed']}: " in dom


def test_the_experiments_table_filters_and_sorts_as_the_address_asks():
    run = long_study()
    dom = rendered(run, "#filter=post%20learning_rate=0.003&sort=seed&desc")
    body = re.search(r"<tbody>(.*?)</tbody>", dom, re.S).group(1)
    rows = re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S)
    visible = [cells for attrs, cells in rows if "hidden" not in attrs]
    expected = [e for e in trajectory_of(run)["experiments"]
                if e["factors"]["norm_position"] == "post" and e["factors"]["learning_rate"] == 0.003]
    assert len(visible) == len(expected) > 0 and len(rows) == 200
    seeds = [int(re.findall(r"<td>(.*?)</td>", cells)[5]) for cells in visible]
    assert seeds == sorted(seeds, reverse=True)
    assert f"{len(expected)} of 200 runs shown" in dom


@pytest.mark.parametrize("study", [finished_study, long_study], ids=["12 runs", "200 runs"])
def test_chromium_takes_a_screenshot_of_the_dashboard(study, tmp_path):
    rendered(study())  # no script errors first
    shot = tmp_path / "dashboard.png"
    chromium("--window-size=1250,2400", f"--screenshot={shot}", (study() / "dashboard.html").as_uri())
    assert shot.read_bytes().startswith(b"\x89PNG")
