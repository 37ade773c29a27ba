"""Values no run can use are refused when the hypothesis loads (and on --set, and by the
trainer's config reader), from one table: run_config.py's RANGES. Exit 2, the field
named, nothing written, before any run is spent."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import run_config
from executor import config_file
from executor import train as train_mod
from parser.hypothesis import HypothesisError, load_hypothesis
from tests.test_hypothesis import _write
from tests.test_loop import TINY_STUDY

ROOT = Path(__file__).resolve().parent.parent
BASE = {"model": "transformer_tiny", "dataset": "synthetic", "norm_position": ["pre", "post"]}
P1 = "Val loss converges 20% faster with pre-norm vs post-norm"

# Each was accepted before the table existed and spent runs that then failed in the trainer.
OUT_OF_RANGE = [
    ("learning_rate", [-1], "learning_rate[0]: must be > 0"),
    ("learning_rate", 0, "learning_rate: must be > 0"),
    ("dataset_fraction", [0.0, 2.0], "dataset_fraction[0]: must be in (0, 1]"),
    ("dataset_fraction", [0.5, 2.0], "dataset_fraction[1]: must be in (0, 1]"),
    ("dropout", [1.5], "dropout[0]: must be in [0, 1)"),
    ("dropout", 1.0, "dropout: must be in [0, 1)"),
    ("weight_decay", -0.1, "weight_decay: must be >= 0"),
    ("warmup_steps", -1, "warmup_steps: must be >= 0"),
    ("seq_len", [0], "seq_len[0]: must be in [1, 65536]"),
    ("n_layer", [-3], "n_layer[0]: must be in [1, 1024]"),
    ("max_steps", [0], "max_steps[0]: must be >= 1"),
    ("batch_size", 100000000, "batch_size: must be in [1, 65536]"),
    ("batch_size", 0, "batch_size: must be in [1, 65536]"),
    ("eval_interval", 0, "eval_interval: must be >= 1"),
    ("eval_batches", 0, "eval_batches: must be >= 1"),
    ("d_model", 0, "d_model: must be in [1, 65536]"),
    ("d_model", 33, "d_model: d_model=33 must be a positive multiple of n_head=2"),
    ("seq_len", 30000, "seq_len: seq_len=30000 is longer than synthetic's 20000-token val split"),
    ("seed", -1, "seed: must be in [0, 4294967295]"),
    ("learning_rate", ".inf", "learning_rate: expected float"),
    ("grad_clip", -1, "grad_clip: must be >= 0"),
    ("n_head", 0, "n_head: must be in [1, 1024]"),
    ("n_head", 3, "d_model: d_model=32 must be a positive multiple of n_head=3"),
]


def hypothesis_file(tmp_path, key, value):
    return _write(tmp_path, {"hypothesis": {"claim": "c", "predictions": [P1],
                                            "initial_config": {**BASE, key: value}}})


@pytest.mark.parametrize("key, value, message", OUT_OF_RANGE)
def test_an_out_of_range_value_is_refused_at_load_naming_the_field(tmp_path, key, value, message):
    path = hypothesis_file(tmp_path, key, value)
    with pytest.raises(HypothesisError) as info:
        load_hypothesis(path)
    assert str(info.value).startswith(f"{path}: hypothesis.initial_config.{message}"), str(info.value)


def loop(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "loop.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("key, value, message", [OUT_OF_RANGE[0], OUT_OF_RANGE[2], OUT_OF_RANGE[11]])
def test_through_the_cli_an_out_of_range_value_exits_2_and_writes_nothing(tmp_path, key, value, message):
    path = hypothesis_file(tmp_path, key, value)
    done = loop("--hypothesis", path, "--out", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 2 and f"hypothesis.initial_config.{message}" in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_a_set_override_out_of_range_exits_2_naming_the_override(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY_STUDY)
    done = loop("--hypothesis", study, "--out", tmp_path / "run", "--set", "dropout=1.5", cwd=tmp_path)
    assert done.returncode == 2 and "--set dropout: must be in [0, 1), got 1.5" in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
numbers = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True))


@FUZZ
@given(key=st.sampled_from(sorted(set(run_config.RANGES) - {"threads", "n_layer", "d_model", "n_head"})), value=numbers)
def test_any_number_loads_exactly_when_the_range_table_allows_it(tmp_path_factory, key, value):
    path = hypothesis_file(tmp_path_factory.mktemp("r"), key, value)
    kind = run_config.FIELD_TYPES[key]
    fits_type = math.isfinite(value) and (kind != "int" or float(value).is_integer())
    expected = fits_type and run_config.RANGES[key].holds(value) and not (key == "seq_len" and value > 19999)
    try:
        load_hypothesis(path)
        loaded = True
    except HypothesisError as e:
        assert f"hypothesis.initial_config.{key}" in str(e)
        loaded = False
    assert loaded == expected, (key, value)


@pytest.mark.parametrize("key, value, message", [("learning_rate", -1, "learning_rate: must be > 0, got -1"),
                                                 ("batch_size", 0, "batch_size: must be in [1, 65536]"),
                                                 ("dropout", float("nan"), "dropout: must be a finite number"),
                                                 ("seq_len", 2.5, "seq_len: expected int, got 2.5"),
                                                 ("d_model", 33, "d_model=33 must be a positive multiple")])
def test_the_trainer_refuses_the_same_values_in_a_config_it_reads(tmp_path, capsys, key, value, message):
    config = {**run_config.to_dict(run_config.TrainConfig(model="transformer_tiny", metrics_path=str(tmp_path / "m.json"))),
              key: value}
    (tmp_path / "c.json").write_text(json.dumps(config))
    assert train_mod.main([str(tmp_path / "c.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_the_trainer_refuses_a_batch_whose_activations_cannot_fit_before_allocating(tmp_path, capsys):
    config = run_config.TrainConfig(model="transformer_small", batch_size=60000, seq_len=1024,
                             metrics_path=str(tmp_path / "m.json"))
    _, path = config_file.write(config, tmp_path)
    assert train_mod.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "batch_size=60000 x seq_len=1024 needs at least" in err and "GiB free" in err


def test_the_activation_estimate_is_below_what_a_real_step_allocates():
    # a lower bound: it must never refuse a batch that fits
    config = run_config.TrainConfig(model="transformer_tiny", batch_size=8, seq_len=32)
    assert train_mod.activation_bytes(config, 16) == 4 * 8 * 32 * (2 * (16 * 32 + 2 * 2 * 32) + 3 * 16)
