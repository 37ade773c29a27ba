"""End to end: the README's example of a researcher's own script runs through the loop to a verdict."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_spiral_mlp_example_runs_through_the_loop_to_a_verdict_on_its_own_metric(tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, str(ROOT / "loop.py"), "--hypothesis", "examples/spiral_mlp.yaml",
                           "--executor", "command", "--command", f"{sys.executable} examples/spiral_mlp.py",
                           "--max-experiments", "10", "--out", str(run_dir), "--quiet"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "every prediction is decided" in done.stdout
    graph = json.loads((run_dir / "trajectory.json").read_text())
    p1, p2 = graph["predictions"]
    assert (p1["spec"]["metric"], p1["spec"]["factor"], p1["status"]) == ("val_acc", "hidden_units", "confirmed")
    assert p2["status"] == "confirmed" and p2["spec"]["arm"] == 64
    exps = [json.loads(line) for line in (run_dir / "research_log.jsonl").read_text().splitlines()
            if '"experiment"' in line]
    assert {e["config"]["hidden_units"] for e in exps} == {2, 64} and all(e["config"]["depth"] == 2 for e in exps)
    assert all(0.0 <= e["metrics"]["val_acc"] <= 1.0 for e in exps)
