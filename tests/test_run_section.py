"""The researcher's own script from one `run:` section: its flags, its stdout, its folder, its seed."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import loop
import run_config
from executor.base import RunPaths
from executor.command import CommandExecutor
from executor.script import Reader, assemble, command_line, parse_file
from run_config import RunSpec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "own_script"
LINE = r"step (?P<step>\d+): train loss \S+, val loss (?P<val_loss>\S+)"

# Prints nanoGPT-style lines; its loss falls with --lr and is moved by --seed when it is given.
SCRIPT = """
import argparse, sys, time
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--seed", type=int, default=1337)
p.add_argument("--steps", type=int, default=50)
p.add_argument("--sleep", type=float, default=0.0)
a = p.parse_args()
for step in range(10, a.steps + 1, 10):
    loss = 3.0 / (1 + a.lr * step) + 0.001 * (a.seed % 97)
    print(f"step {step}: train loss {loss + 0.1:.6f}, val loss {loss:.6f}", flush=True)
    time.sleep(a.sleep)
"""


def study_file(tmp_path, run: str, config: str = "lr: [0.5, 0.1]\n    steps: 50",
               prediction: str = "Final val loss 10% lower with lr 0.5 vs lr 0.1") -> Path:
    (tmp_path / "proj").mkdir(exist_ok=True)
    (tmp_path / "proj" / "train.py").write_text(SCRIPT)
    path = tmp_path / "study.yaml"
    path.write_text(f"run:\n{textwrap.indent(textwrap.dedent(run).strip(), '  ')}\n"
                    f"hypothesis:\n  claim: c\n  predictions:\n    - \"{prediction}\"\n"
                    f"  initial_config:\n    {config}\n")
    return path


GOOD = f"""
command: {sys.executable} train.py --lr={{lr}} --steps={{steps}} --seed={{seed}}
workdir: proj
metrics:
  stdout: '{LINE}'
steps: steps
"""


def run_loop(path: Path, out: Path, *extra: str):
    argv = ["--hypothesis", str(path), "--out", str(out), "--quiet", "--max-experiments", "8", *extra]
    return loop.main(argv)


# --- bad input: exit 2 before any run, naming the file, the field and the value -------

@pytest.mark.parametrize("run, config, expected", [
    (GOOD.replace("{seed}", "{sed}"), None, "run.command: {sed} is no factor of initial_config"),
    (GOOD.replace(" --steps={steps}", ""), None, "hypothesis.initial_config.steps: declared, but the command"),
    (GOOD.replace("val loss (?P<val_loss>", "val loss ((?P<val_loss>"), None, "run.metrics.stdout: not a regular"),
    (GOOD.replace("(?P<val_loss>\\S+)", "\\S+"), None, "run.metrics.stdout: no metric group"),
    (GOOD.replace("workdir: proj", "workdir: nowhere"), None, "run.workdir: no such folder 'nowhere'"),
    (GOOD.replace("steps: steps", "steps: lr"), None, "run.steps: lr takes [0.5, 0.1], not whole numbers"),
    (GOOD.replace("--lr={lr}", "--lr {lr}"), "lr: ['--rm', x]\n    steps: 50", "'--rm' would read as a flag"),
    (GOOD + "colour: red\n", None, "run.colour: unknown key"),
])
def test_a_bad_run_section_exits_2_naming_file_field_and_value_before_any_run(tmp_path, capsys, run, config,
                                                                                expected):
    path = study_file(tmp_path, run, **({"config": config} if config else {}))
    assert run_loop(path, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err
    assert not (tmp_path / "out").exists()  # nothing written, nothing run


def test_the_metrics_given_by_flags_are_checked_as_the_file_s_are(tmp_path, capsys):
    path = study_file(tmp_path, GOOD)
    assert run_loop(path, tmp_path / "out", "--metrics-stdout", "val (?P<val_loss>") == 2
    assert "not a regular expression" in capsys.readouterr().err


# --- the command line ------------------------------------------------------------------

HOSTILE = ["two words", "it's \"quoted\"", "a;rm -rf /", "$(touch pwned)", "--evil", "`id`"]


def test_a_hostile_value_stays_one_argument_verbatim_and_nothing_runs_in_a_shell(tmp_path):
    spec = RunSpec(("prog", "--name={name}", "{seed}"))
    for value in HOSTILE:
        assert command_line(spec, {"name": value, "seed": 3}) == ["prog", f"--name={value}", "3"]
    echo = tmp_path / "echo.py"
    echo.write_text("import json, sys; print(json.dumps(sys.argv[1:]))")
    spec = RunSpec((sys.executable, str(echo), "--name={name}", "{{literal}}"), text="echo")
    paths = RunPaths.under(tmp_path / "run")
    for i, value in enumerate(HOSTILE):
        config = run_config.from_dict({"experiment_id": f"exp_{i:04d}", "name": value, "declared": "name"})
        CommandExecutor(spec).run(config, paths, 60)
        assert json.loads(paths.out(f"exp_{i:04d}").read_text()) == [f"--name={value}", "{literal}"]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


# --- reading the numbers -----------------------------------------------------------------

def test_stdout_lines_make_a_curve_and_a_final_value_for_every_group(tmp_path):
    out = tmp_path / "out"
    out.write_text("loading...\nstep 10: loss 2.5 acc 0.4\nnoise\nstep 20: loss 2.0 acc 0.6\nstep 30: loss 1.5 acc 0.7")
    reader = Reader(RunSpec(("x",), stdout=r"step (?P<step>\d+): loss (?P<val_loss>\S+) acc (?P<acc>\S+)"), out)
    reader.poll()  # the last line has no newline yet: it is still being printed
    assert [p["step"] for p in reader.points] == [10, 20]
    reader.poll(final=True)
    m = reader.metrics(stopped=False, steps=None)
    assert m["val_curve"] == [[10, 2.5], [20, 2.0], [30, 1.5]] and m["final_val_loss"] == 1.5
    assert m["final_acc"] == 0.7 and m["acc_curve"][-1] == [30, 0.7] and m["steps"] == 30


def test_the_run_length_is_the_steps_factor_or_the_curve_and_never_an_assumed_default():
    points = [{"step": 100, "val_loss": 2.0}, {"step": 200, "val_loss": 1.0}]
    assert assemble(points, stopped=False, steps=2000)["steps"] == 2000
    assert assemble(points, stopped=True, steps=2000)["steps"] == 200  # ended at its target
    assert assemble(points)["steps"] == 200
    assert assemble([{"val_loss": 2.0}, {"val_loss": 1.0}])["val_curve"] == [[1, 2.0], [2, 1.0]]
    assert assemble([{"val_loss": 2.0}])["steps"] is None


def test_a_lightning_csv_a_json_lines_log_and_hugging_face_trainer_state_are_read_as_rows():
    lightning = "epoch,step,train_loss,val_loss\n0,49,1.2,\n0,49,,1.1\n1,99,0.9,\n1,99,,0.8\n"
    rows, _ = parse_file(lightning)
    assert assemble(rows)["val_curve"] == [[49, 1.1], [99, 0.8]] and assemble(rows)["final_train_loss"] == 0.9
    jsonl = '{"step": 1, "val_loss": 2.0}\n{"step": 2, "val_loss": 1.5}\n{"step": 3, "val_lo'
    assert assemble(parse_file(jsonl)[0])["val_curve"] == [[1, 2.0], [2, 1.5]]  # the torn last line waits
    hf = {"global_step": 200, "log_history": [{"loss": 2.1, "step": 100, "epoch": 0.5},
                                              {"eval_loss": 1.9, "step": 100, "epoch": 0.5},
                                              {"eval_loss": 1.6, "step": 200, "epoch": 1.0}]}
    m = assemble(parse_file(json.dumps(hf))[0])
    assert m["val_curve"] == [[100, 1.9], [200, 1.6]] and m["final_val_loss"] == 1.6
    assert parse_file('{"final_val_loss": 1.2, "val_acc": 0.9}') == (None, {"final_val_loss": 1.2, "val_acc": 0.9})
    assert parse_file('{"final_val_lo') == (None, None)


# --- early stopping any script --------------------------------------------------------

STUBBORN = """
import signal, sys, time
if "--ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
for step in range(1, 10000):
    print(f"step {step}: train loss 0, val loss {3.0 / step:.4f}", flush=True)
    time.sleep(0.02)
"""


@pytest.mark.parametrize("flag", ["", "--ignore-term"])
def test_the_loop_ends_a_run_that_crossed_its_target_and_keeps_the_curve_so_far(tmp_path, flag):
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    spec = RunSpec((sys.executable, str(script), *([flag] if flag else [])), stdout=LINE, grace_s=0.5, text="s")
    paths = RunPaths.under(tmp_path / "run")
    config = run_config.from_dict({"experiment_id": "exp_0001", "stop_at_loss": 1.0, "declared": "seed"})
    result = CommandExecutor(spec).run(config, paths, 120)
    assert result.status == "completed", result.error
    metrics = json.loads(paths.metrics("exp_0001").read_text())
    assert metrics["stopped_early"] is True and metrics["val_curve"][-1][1] <= 1.0
    assert metrics["steps"] < 100  # SIGTERM (or, ignored, SIGKILL after the grace) ended it long before


def test_a_run_whose_output_never_matches_fails_with_the_end_of_its_stdout(tmp_path):
    spec = RunSpec((sys.executable, "-c", "print('epoch 1 done')"), stdout=LINE, text="x")
    paths = RunPaths.under(tmp_path / "run")
    result = CommandExecutor(spec).run(run_config.from_dict({"experiment_id": "exp_0001", "declared": "seed"}), paths, 60)
    assert (result.status, result.cause) == ("failed", "metrics_missing")
    assert "no output matched run.metrics.stdout" in result.error and "epoch 1 done" in result.stderr_tail


PRINTS_THREADS = "import os; print('step 1: threads', os.environ.get('OMP_NUM_THREADS', 'unset'))"


def run_printing_threads(tmp_path, monkeypatch, omp: str | None, **config) -> tuple[str, dict]:
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    spec = RunSpec((sys.executable, "-c", PRINTS_THREADS), stdout=r"step (?P<step>\d+): threads (?P<seen>\S+)", text="x")
    paths = RunPaths.under(tmp_path / "run")
    values = {"experiment_id": "exp_0001", "declared": "seed", **config}
    result = CommandExecutor(spec).run(run_config.from_dict(values), paths, 60)
    assert result.status == "completed", result.error
    metrics = json.loads(paths.metrics("exp_0001").read_text())
    return paths.out("exp_0001").read_text().split()[-1], metrics


def test_a_script_is_given_threads_for_the_free_cores_and_the_record_says_how_many(tmp_path, monkeypatch):
    import os
    seen, metrics = run_printing_threads(tmp_path, monkeypatch, None)
    assert 1 <= int(seen) <= len(os.sched_getaffinity(0))
    assert metrics["threads"] == int(seen)


def test_a_workers_share_or_the_users_own_omp_num_threads_wins(tmp_path, monkeypatch):
    assert run_printing_threads(tmp_path, monkeypatch, None, threads=3)[0] == "3"
    seen, metrics = run_printing_threads(tmp_path, monkeypatch, "7")
    assert seen == "7" and "threads" not in metrics  # the user's choice, not the loop's


# --- the study, end to end ----------------------------------------------------------------

def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "research_log.jsonl").read_text().splitlines()
            if '"experiment"' in line]


def test_a_script_with_its_own_flags_and_folder_is_studied_from_its_run_section_alone(tmp_path):
    path = study_file(tmp_path, GOOD)
    assert run_loop(path, tmp_path / "out") == 0
    graph = json.loads((tmp_path / "out" / "trajectory.json").read_text())
    assert graph["predictions"][0]["status"] == "confirmed"
    logged = records(tmp_path / "out")
    assert all(set(r["config"]) == {"lr", "steps", "seed", "experiment_id"} for r in logged)  # declared only
    assert all(r["steps"] == 50 and r["script"]["workdir"] == str((tmp_path / "proj").resolve()) for r in logged)
    assert all(r["script"].get("files_sha256") or r["script"].get("git_commit") for r in logged)
    copy = (tmp_path / "out" / "hypothesis.yaml").read_text()
    assert str((tmp_path / "proj").resolve()) in copy  # the run dir's copy runs from anywhere


def test_a_script_that_ignores_the_seed_confirms_nothing_and_the_study_says_how_to_pass_it(tmp_path, capsys):
    path = study_file(tmp_path, GOOD.replace(" --seed={seed}", ""))
    assert run_loop(path, tmp_path / "out") == 0
    said = capsys.readouterr().out
    assert "identical replicates: the script ignores the seed" in said and "RESEARCH_SEED" in said
    graph = json.loads((tmp_path / "out" / "trajectory.json").read_text())
    assert graph["predictions"][0]["status"] != "confirmed"
    assert len(records(tmp_path / "out")) == 3  # it stopped at the first copy (exp_0003), not at the budget


def test_a_factor_that_never_reaches_the_script_is_named(tmp_path, capsys):
    path = study_file(tmp_path, GOOD.replace("--lr={lr}", "--config={config}"))  # lr goes unread in the config
    (tmp_path / "proj" / "train.py").write_text(
        "import sys\nsys.argv = [a for a in sys.argv if not a.startswith('--config')]\n" + SCRIPT)
    assert run_loop(path, tmp_path / "out") == 0
    said = capsys.readouterr().out
    assert "the factor lr does not reach the script" in said
    assert json.loads((tmp_path / "out" / "trajectory.json").read_text())["predictions"][0]["status"] != "confirmed"


def test_resuming_after_the_script_changed_says_so(tmp_path, capsys):
    path = study_file(tmp_path, GOOD)
    assert run_loop(path, tmp_path / "out", "--max-experiments", "2") == 0
    (tmp_path / "proj" / "train.py").write_text(SCRIPT + "\n# edited\n")
    capsys.readouterr()
    assert loop.main(["--resume", str(tmp_path / "out"), "--quiet", "--max-experiments", "4"]) == 0
    assert "note: the script changed since the last logged run" in capsys.readouterr().err


@pytest.mark.slow
def test_the_own_script_example_runs_as_it_is_from_its_hypothesis_file(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "loop.py"), "--hypothesis", str(EXAMPLE / "hypothesis.yaml"),
                           "--max-experiments", "4", "--out", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    logged = records(tmp_path / "run")
    assert len(logged) == 4 and all(r["status"] == "completed" for r in logged), logged[0].get("error")
    assert all(len(r["metrics"]["val_curve"]) == 6 and r["steps"] == 150 for r in logged)
    assert all((tmp_path / "run" / "work" / r["experiment_id"] / "log.csv").exists() for r in logged)


CSV_SCRIPT = """
import argparse, csv, os
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--seed", type=int)
p.add_argument("--out", default="out")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "metrics.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["epoch", "step", "train_loss", "val_loss"])
    for step in range(10, 60, 10):
        loss = 3.0 / (1 + a.lr * step) + 0.001 * a.seed
        w.writerow([0, step, f"{loss + 0.1:.6f}", ""])
        w.writerow([0, step, "", f"{loss:.6f}"])
"""


def test_a_metrics_file_the_script_writes_in_its_run_dir_is_read_with_several_workers(tmp_path):
    run = f"""
    command: {sys.executable} train.py --lr={{lr}} --seed={{seed}} --out={{run_dir}}
    workdir: proj
    metrics:
      file: "{{run_dir}}/metrics.csv"
    """
    path = study_file(tmp_path, run, config="lr: [0.5, 0.1]")
    (tmp_path / "proj" / "train.py").write_text(CSV_SCRIPT)
    assert run_loop(path, tmp_path / "out", "--workers", "2") == 0
    logged = records(tmp_path / "out")
    assert logged and all(r["status"] == "completed" for r in logged)
    assert all(r["metrics"]["val_curve"][-1][0] == 50 and "final_train_loss" in r["metrics"] for r in logged)
    assert all((tmp_path / "out" / "work" / r["experiment_id"] / "metrics.csv").exists() for r in logged)
    graph = json.loads((tmp_path / "out" / "trajectory.json").read_text())
    assert graph["predictions"][0]["status"] == "confirmed"
