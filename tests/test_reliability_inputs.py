"""Bad input and hostile input: refused with exit 2 and the field named, nothing written;
parsers of outside data never raise; secrets never reach the run directory.

Hand-written malformed hypothesis files (and the refused !!python tag) are in
tests/test_hypothesis.py (MALFORMED); here they are fuzzed and sent through the CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parser import log
from parser.hypothesis import HypothesisError, load_hypothesis
from parser.metrics import read_metrics
from tests.test_hypothesis import MALFORMED, _base, _write
from tests.test_loop import TINY_STUDY

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30))
yamlish = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)
KEYS = ["claim", "predictions", "initial_config", "id", "name", "model", "dataset", "norm_position"]


def loop(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, str(ROOT / "loop.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def _loads_or_refuses(path: Path) -> None:
    try:
        load_hypothesis(path)
    except HypothesisError as e:
        assert str(e).startswith(f"{path}: ")


@FUZZ
@given(doc=yamlish)
def test_any_yaml_structure_is_loaded_or_refused_with_a_hypothesis_error(tmp_path_factory, doc):
    _loads_or_refuses(_write(tmp_path_factory.mktemp("f"), {"hypothesis": doc}))


@FUZZ
@given(key=st.sampled_from(KEYS + ["initial_config.model", "initial_config.learning_rate",
                                   "initial_config.seed", "initial_config.unknown"]), value=yamlish)
def test_a_wrong_type_or_unknown_key_anywhere_is_refused_not_crashed(tmp_path_factory, key, value):
    doc = _base()
    *parents, last = key.split(".")
    node = doc
    for k in parents:
        node = node[k]
    node[last] = value
    _loads_or_refuses(_write(tmp_path_factory.mktemp("f"), {"hypothesis": doc}))


@FUZZ
@given(predictions=st.lists(st.text(max_size=80), min_size=1, max_size=3))
def test_random_strings_as_predictions_are_compiled_or_refused(tmp_path_factory, predictions):
    doc = dict(_base(), predictions=predictions)
    _loads_or_refuses(_write(tmp_path_factory.mktemp("f"), {"hypothesis": doc}))


@FUZZ
@given(text=st.text(max_size=200))
def test_random_text_as_a_hypothesis_file_is_refused(tmp_path_factory, text):
    _loads_or_refuses(_write(tmp_path_factory.mktemp("f"), text))


CLI_CASES = ["unknown model", "unknown config key", "unreadable prediction", "YAML syntax error",
             "name escaping the runs directory"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_a_malformed_file_through_the_cli_exits_2_naming_the_field_and_writes_nothing(tmp_path, case):
    content, field, _ = MALFORMED[case]
    path = _write(tmp_path, content)
    done = loop("--hypothesis", path, "--out", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 2 and field in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no run dir, nothing else


def test_a_hostile_name_cannot_place_the_run_directory_outside_runs(tmp_path):
    (tmp_path / "h").mkdir()
    path = tmp_path / "h" / "h.yaml"
    path.write_text(TINY_STUDY.replace("hypothesis:\n", "hypothesis:\n  name: ../../escaped\n", 1))
    done = loop("--hypothesis", path, cwd=tmp_path / "h")
    assert done.returncode == 2 and "hypothesis.name" in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["h", "h.yaml"]


def test_an_unwritable_run_directory_is_an_error_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY_STUDY)
    done = loop("--hypothesis", study, "--out", blocker / "run", "--executor", "sim", "--sim",
                ROOT / "examples" / "sim_truth.yaml")
    assert done.returncode == 2 and "not writable" in done.stderr, done.stderr
    assert "Hypothesis" not in done.stdout and blocker.read_text() == "not a directory"


@FUZZ
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                         yamlish.map(lambda v: json.dumps(v).encode()),
                         st.dictionaries(st.sampled_from(["final_val_loss", "val_curve", "train_time_s",
                                                          "n_train_samples", "x"]), yamlish,
                                         max_size=4).map(lambda v: json.dumps(v).encode())))
def test_read_metrics_never_raises_on_any_file(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("m") / "exp_0001.json"
    path.write_bytes(content)
    metrics, problem = read_metrics(path)
    assert (metrics is None) != (problem is None)
    assert problem is None or "exp_0001.json" in problem


@FUZZ
@given(lines=st.lists(st.one_of(st.binary(max_size=120), yamlish.map(lambda v: json.dumps(v).encode())),
                      max_size=8))
def test_replay_never_raises_and_skips_every_bad_line(tmp_path_factory, lines):
    from tests.records import record
    path = tmp_path_factory.mktemp("l") / log.LOG_NAME
    log.append(path, record("exp_0001", "pre", 0))
    with open(path, "ab") as f:
        f.write(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    log.append(path, record("exp_0002", "post", 0))
    assert [r.experiment_id for r in log.experiments(log.replay(path))][:1] == ["exp_0001"]


SECRETS = {"OPENAI_API_KEY": "sk-test-SECRET-4f9a1c0e7d", "WANDB_API_KEY": "wandb-fake-SECRET-77b2e91"}


def test_api_keys_in_the_environment_never_reach_any_file_of_the_run_directory(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY_STUDY)
    crash = tmp_path / "crash.py"  # a failing run, so stderr_tail is recorded too
    crash.write_text("import os, sys\nprint('error: boom in', os.getcwd(), file=sys.stderr)\nraise SystemExit(1)\n")
    env = dict(os.environ, **SECRETS)
    runs = [("sim", ["--executor", "sim", "--sim", ROOT / "examples" / "sim_truth.yaml"]),
            ("cmd", ["--executor", "command", "--command", f"{sys.executable} {crash}"])]
    for name, args in runs:
        done = loop("--hypothesis", study, "--out", tmp_path / name, "--max-experiments", 4, *args,
                    cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert not any(s in done.stdout + done.stderr for s in SECRETS.values())
        files = [p for p in (tmp_path / name).rglob("*") if p.is_file()]
        assert any(p.name == log.LOG_NAME for p in files) and any(p.name == "trajectory.json" for p in files)
        for path in files:
            data = path.read_bytes()
            assert not any(s.encode() in data for s in SECRETS.values()), path
    # nothing was written beside the two run directories
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmd", "crash.py", "sim", "tiny.yaml"]


def test_a_corpus_that_cannot_be_had_exits_2_before_anything_is_written_or_run(tmp_path):
    study = tmp_path / "ts.yaml"
    study.write_text(TINY_STUDY.replace("dataset: synthetic", "dataset: tinyshakespeare"))
    (tmp_path / "empty").mkdir()  # a local copy missing its file: refused, never a run spent on it
    done = loop("--hypothesis", study, "--out", tmp_path / "run", "--data-dir", tmp_path / "empty", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "hypothesis.initial_config.dataset: tinyshakespeare: input.txt is missing" in done.stderr
    assert "--data-dir DIR" in done.stderr  # says how to provide it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "ts.yaml"]
