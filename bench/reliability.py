"""Kill anywhere, resume: SIGKILL the loop's process group at random moments, resume each time.

    python bench/reliability.py [--trials 32] [--train-trials 4] [--seed 7]

After every kill: the log is valid JSONL (only the last line may be torn), every
experiment id is in it once and in order, trajectory.json lists no run the log lacks
(and lags it by at most the one run whose append a kill interrupted), and no training
process outlives the loop. After the last kill the study runs to its end, and then the
trajectory holds exactly the log's runs. Each kill is classed by the state it left
(where in the iteration it landed). Prints the counts as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIM_TRUTH_AT_THRESHOLD = (ROOT / "examples" / "sim_truth.yaml").read_text().replace(
    "levels: {pre: -0.3, post: 0.0}", "levels: {pre: -0.223, post: 0.0}").replace(
    "levels: {pre: -0.05, post: 0.0}", "levels: {pre: -0.223, post: 0.0}")  # undecided for long
ORPHAN_GRACE_S = 3.0
POLL_S = 0.01
STALL_S = 120.0  # a loop that logs nothing for this long is killed where it stands
TAG_VAR = "RESEARCH_RELIABILITY_TAG"


def loop_argv(run_dir: Path, hypothesis: Path, extra: list[str]) -> list[str]:
    start = ["--resume", str(run_dir)] if (run_dir / "research_log.jsonl").exists() else \
        ["--hypothesis", str(hypothesis), "--out", str(run_dir)]
    return [sys.executable, str(ROOT / "loop.py"), *start, *extra]


def processes_of(tag: str) -> list[str]:
    """Live processes started by the campaign's loops: the tag is in the environment
    every descendant inherits (the forkserver, its training children, command scripts),
    and stays there after a kill re-parents them. Other users' processes don't carry it."""
    found, needle = [], f"{TAG_VAR}={tag}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if state != "Z" and needle in environ.split(b"\0"):
            text = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry}: {text[:120]}")
    return found


def orphans(tag: str) -> list[str]:
    deadline = time.monotonic() + ORPHAN_GRACE_S  # a PDEATHSIG kill lands a moment later
    while (left := processes_of(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def check_log(run_dir: Path) -> list[str]:
    """Experiment ids in the log, after checking it is valid JSONL with unique ids."""
    path = run_dir / "research_log.jsonl"
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    ids = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            assert number == len(lines), f"{path}:{number}: a bad line that is not the torn last one"
            continue
        if record.get("record") == "experiment":
            ids.append(record["experiment_id"])
    assert ids == [f"exp_{i:04d}" for i in range(1, len(ids) + 1)], f"ids repeated or skipped: {ids}"
    return ids


def trajectory_ids(run_dir: Path) -> list[str] | None:
    path = run_dir / "trajectory.json"
    if not path.exists():
        return None
    return [e["id"] for e in json.loads(path.read_text())["experiments"]]


def where(run_dir: Path, ids: list[str], traj: list[str] | None, began: float) -> str:
    """Which window the kill landed in, read off the state it left (files this trial
    wrote: a config or temp file left by an earlier kill says nothing about this one)."""
    fresh = lambda paths: any(p.stat().st_mtime >= began for p in paths)  # noqa: E731
    if fresh(p for p in run_dir.glob(".*.tmp") if p.name.startswith(".trajectory.json.")):
        return "trajectory write"
    if traj is not None and len(traj) < len(ids):
        return "between log append and trajectory write"
    if fresh(run_dir.glob(f"configs/exp_{len(ids) + 1:04d}.json")):
        return "during a run"
    if not (run_dir / "trajectory.json").exists():
        return "start-up"
    return "planning, replay or start-up"


def check_after_kill(run_dir: Path, began: float) -> tuple[list[str], str]:
    ids = check_log(run_dir)
    traj = trajectory_ids(run_dir)
    if traj is not None:
        assert traj == ids[: len(traj)] and len(ids) - len(traj) <= 1, (traj, ids)
    return ids, where(run_dir, ids, traj, began)


def logged(run_dir: Path) -> int:
    """Experiment records in the log so far (a torn last line counts as none)."""
    try:
        return (run_dir / "research_log.jsonl").read_bytes().count(b'{"record":"experiment"')
    except FileNotFoundError:
        return 0


def run_started_since(run_dir: Path, moment: float) -> bool:
    """A run's config file was written after `moment` (time.time()): a run is in flight.
    (A run killed earlier leaves its config behind, so mere existence says nothing.)"""
    return any(p.stat().st_mtime >= moment for p in (run_dir / "configs").glob("exp_*.json"))


def wait_until(proc: subprocess.Popen, done, timeout: float = STALL_S) -> bool:
    """Poll `done()` until it holds; False if the loop exited first. A loop that makes no
    progress for `timeout` is killed where it stands (still a kill, still checked)."""
    deadline = time.monotonic() + timeout
    while not done():
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(POLL_S)
    return True


def kill_after_records(rng: random.Random, run_dir: Path, proc: subprocess.Popen, pace: dict) -> bool:
    """Kill moments read off the study's own progress, so they land in the same places on a
    fast or a slow machine: with probability 1/4 during start-up (a random share of the
    previous start-up's length), else after 2-4 more logged runs, a random share of the
    last gap between two records later (anywhere in the next iteration)."""
    began, base = time.monotonic(), logged(run_dir)
    if rng.random() < 0.25:
        return sleep_alive(proc, rng.uniform(0.05, 0.95) * pace.get("start-up", 1.0))
    stamps = [began]
    for k in range(1, rng.randint(2, 4) + 1):
        if not wait_until(proc, lambda k=k: logged(run_dir) >= base + k):
            return False
        stamps.append(time.monotonic())
    pace["start-up"] = stamps[1] - began
    return sleep_alive(proc, rng.uniform(0.0, 0.95) * (stamps[-1] - stamps[-2]))


def kill_during_a_run(rng: random.Random, run_dir: Path, proc: subprocess.Popen, pace: dict) -> bool:
    """Kill while a training run is in flight: just after its config file appears."""
    began = time.time()
    if not wait_until(proc, lambda: run_started_since(run_dir, began)):
        return False
    return sleep_alive(proc, rng.uniform(0.0, 0.3))


def sleep_alive(proc: subprocess.Popen, seconds: float) -> bool:
    """Sleep; False if the loop exited meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(POLL_S)
    return proc.poll() is None


def campaign(run_dir: Path, hypothesis: Path, extra: list[str], trials: int, moment, seed: int) -> Counter:
    """`trials` kills at seeded random moments of the study's progress (`moment`), each
    followed by a resume; then a run to the end."""
    rng, counts, pace = random.Random(seed), Counter(), {}
    tag = f"{os.getpid()}-{run_dir}"
    env = dict(os.environ, **{TAG_VAR: tag})
    for _ in range(trials):
        began = time.time()
        proc = subprocess.Popen(loop_argv(run_dir, hypothesis, extra), cwd=ROOT, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        if not moment(rng, run_dir, proc, pace):
            proc.wait()
            counts["finished before the kill"] += 1
            continue
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        ids, window = check_after_kill(run_dir, began)
        counts["kills"] += 1
        counts[f"window: {window}"] += 1
        left = orphans(tag)
        counts["orphans"] += len(left)
        assert not left, left
    done = subprocess.run(loop_argv(run_dir, hypothesis, extra), cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    ids = check_log(run_dir)
    assert trajectory_ids(run_dir) == ids, "trajectory.json disagrees with the log"
    assert json.loads((run_dir / "research_log.jsonl").read_text().splitlines()[-1])["record"] == "stop"
    counts["orphans"] += len(orphans(tag))
    counts["experiments"] = len(ids)
    counts["records lost"] = 0  # every check above passed: ids consecutive, each once
    return counts


def sim_study(tmp: Path, name: str) -> tuple[Path, list[str]]:
    truth = tmp / "truth.yaml"
    truth.write_text(SIM_TRUTH_AT_THRESHOLD)
    # 16 kills at most 5 runs apart use at most 80 runs: the study outlasts its kills
    extra = ["--executor", "sim", "--sim", str(truth), "--max-experiments", "120", "--max-seeds", "100"]
    return tmp / name, extra


def train_study(tmp: Path) -> tuple[Path, list[str]]:
    sys.path.insert(0, str(ROOT))
    from tests.test_loop import TINY_STUDY

    hypothesis = tmp / "tiny.yaml"
    hypothesis.write_text(TINY_STUDY)
    return hypothesis, ["--max-experiments", "3", "--run-timeout", "120"]


def run_all(tmp: Path, trials: int, train_trials: int, seed: int) -> Counter:
    """Sim kills in two studies side by side (the start-up is CPU-bound), then training kills."""
    hypothesis = ROOT / "examples" / "quickstart.yaml"
    results: list[Counter] = []
    errors: list[BaseException] = []

    def one(i: int, n: int) -> None:
        try:
            run_dir, extra = sim_study(tmp, f"sim{i}")
            results.append(campaign(run_dir, hypothesis, extra, n, kill_after_records, seed + i))
        except BaseException as e:  # noqa: BLE001 (re-raised in the caller)
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i, n)) for i, n in enumerate((trials // 2, trials - trials // 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    if train_trials:
        tiny, extra = train_study(tmp)
        results.append(campaign(tmp / "train", tiny, extra, train_trials, kill_during_a_run, seed + 100))
    return sum(results, Counter())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=32)
    p.add_argument("--train-trials", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        counts = run_all(Path(tmp), args.trials, args.train_trials, args.seed)
    print(json.dumps(dict(sorted(counts.items()), seconds=round(time.monotonic() - start, 1)), indent=1))


if __name__ == "__main__":
    main()
