"""dashboard.html: self-contained, rewritten after each run, rendered by a real browser."""
import json
import re
import shutil
import subprocess
import tempfile

import pytest

from parser.hypothesis import load_hypothesis, search_space
from planner.space import Space
from tests.records import pairs
from tests.sim_study import ROOT, finished_study
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


def test_chromium_renders_one_node_per_hypothesis_prediction_and_experiment():
    dom = chromium("--dump-dom", (finished_study() / "dashboard.html").as_uri())
    assert 'data-rendered="ok"' in dom and 'id="render-error"' not in dom
    kinds = re.findall(r'class="node" data-kind="(\w+)"', dom)
    assert (kinds.count("hypothesis"), kinds.count("prediction"), kinds.count("experiment")) == (1, 2, 12)


def test_chromium_takes_a_screenshot_of_the_dashboard(tmp_path):
    shot = tmp_path / "dashboard.png"
    chromium("--window-size=1000,1400", f"--screenshot={shot}", (finished_study() / "dashboard.html").as_uri())
    assert shot.read_bytes().startswith(b"\x89PNG")
