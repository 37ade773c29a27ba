"""The researcher's own factors: any identifier in initial_config, scalar values, named by
predictions; what the built-in trainer cannot run is refused at load, naming the key."""
from pathlib import Path

import pytest
import yaml

from parser.design import config_hash, pair_key, point_key
from parser.hypothesis import HypothesisError, load_hypothesis


def own_study(**config) -> dict:
    base = {"model": "my_mlp", "dataset": "my_blobs", "opt": ["adamw", "sgd"], "width": [16, 64]}
    return {"hypothesis": {"claim": "adamw trains my MLP to a higher accuracy",
                           "metrics": ["val_acc"],
                           "predictions": ["val_acc 5% higher with opt adamw vs opt sgd"],
                           "initial_config": {**base, **config}}}


def write(tmp_path: Path, doc: dict, name: str = "h.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def own(tmp_path, doc):
    return load_hypothesis(write(tmp_path, doc), builtin=False)


def test_user_factors_load_with_their_yaml_types_for_the_users_own_code(tmp_path):
    h = own(tmp_path, own_study(lr_decay="1e-4", tag="run a", flag=[True, False]))
    config = h.initial_config
    assert config["opt"] == ["adamw", "sgd"] and config["width"] == [16, 64]
    assert config["lr_decay"] == 1e-4 and config["flag"] == [True, False] and config["tag"] == "run a"
    assert (config["model"], config["dataset"]) == ("my_mlp", "my_blobs")  # any name for one's own script


def test_a_plain_prediction_names_a_user_factor_and_a_listed_metric(tmp_path):
    spec = own(tmp_path, own_study()).predictions[0].spec
    assert (spec.metric, spec.direction, spec.factor, spec.arm, spec.baseline, spec.threshold) == \
        ("val_acc", "higher", "opt", "adamw", "sgd", pytest.approx(0.05))


def test_values_unique_to_one_factor_need_no_factor_name(tmp_path):
    doc = own_study()
    doc["hypothesis"]["predictions"] = ["val acc higher with adamw vs sgd"]
    assert own(tmp_path, doc).predictions[0].spec.factor == "opt"


def test_a_structured_prediction_names_a_user_factor_and_any_metric(tmp_path):
    doc = own_study()
    doc["hypothesis"]["predictions"] = [{"metric": "val_f1", "direction": "higher", "factor": "width",
                                         "arm": "64", "baseline": 16}]
    spec = own(tmp_path, doc).predictions[0].spec
    assert (spec.metric, spec.arm, spec.baseline) == ("val_f1", 64, 16)


def test_values_shared_by_two_factors_must_say_which_is_meant(tmp_path):
    doc = own_study(depth=[16, 64])
    doc["hypothesis"]["predictions"] = ["val_acc higher with 64 vs 16"]
    with pytest.raises(HypothesisError, match=r"h\.yaml: hypothesis\.predictions\[0\].*ambiguous.*width, depth"):
        own(tmp_path, doc)
    doc["hypothesis"]["predictions"] = ["val_acc higher with depth 64 vs depth 16"]
    assert own(tmp_path, doc).predictions[0].spec.factor == "depth"


def test_a_user_factor_is_part_of_the_design_point_and_its_cell():
    a = {"model": "m", "seed": 0, "opt": "adamw", "width": 16}
    b = dict(a, width=64)
    assert point_key(a) != point_key(b) and config_hash(a) != config_hash(b)
    assert pair_key(a, "opt") != pair_key(b, "opt")  # not paired across another user factor
    assert pair_key(a, "opt") == pair_key(dict(a, opt="sgd"), "opt")


BAD = {
    "non-identifier name": ({"my-factor": [1, 2]}, "hypothesis.initial_config.my-factor", "identifier"),
    "dunder name": ({"__class__": "x"}, "hypothesis.initial_config.__class__", "dunder"),
    "nested value": ({"opt": {"name": "adamw"}}, "hypothesis.initial_config.opt", "scalars"),
    "nested list item": ({"opt": ["adamw", ["sgd"]]}, "hypothesis.initial_config.opt[1]", "scalars"),
    "NaN": ({"width": [16, ".nan"]}, None, None),
    "inf": ({"width": float("inf")}, "hypothesis.initial_config.width", "finite"),
    "huge string": ({"tag": "x" * 5000}, "hypothesis.initial_config.tag", "at most 200"),
    "plumbing key": ({"metrics_path": "/etc/passwd"}, "hypothesis.initial_config.metrics_path", "set by the loop"),
    "empty list": ({"opt": []}, "hypothesis.initial_config.opt", "empty"),
}


@pytest.mark.parametrize("entry, field, why", BAD.values(), ids=BAD.keys())
def test_a_bad_user_factor_is_refused_naming_file_and_field(tmp_path, entry, field, why):
    path = write(tmp_path, own_study(**entry))
    if field is None:  # YAML's .nan: a float that is not finite
        path.write_text(path.read_text().replace("'.nan'", ".nan"))
        field, why = "hypothesis.initial_config.width[1]", "finite"
    with pytest.raises(HypothesisError) as err:
        load_hypothesis(path, builtin=False)
    assert str(err.value).startswith(f"{path}: {field}: ") and why in str(err.value), str(err.value)


def test_the_built_in_trainer_refuses_a_factor_it_does_not_have_saying_what_would_run_it(tmp_path):
    doc = own_study(model="transformer_tiny", dataset="synthetic")
    with pytest.raises(HypothesisError) as err:
        load_hypothesis(write(tmp_path, doc))
    message = str(err.value)
    assert "hypothesis.initial_config.opt: " in message and "'opt'" in message
    assert "--executor command" in message and "--plugin" in message


@pytest.mark.parametrize("key, name", [("model", "my_mlp"), ("dataset", "my_blobs")])
def test_the_built_in_trainer_refuses_an_unregistered_model_or_dataset(tmp_path, key, name):
    doc = {"hypothesis": {"claim": "c", "predictions": ["val loss lower with pre-norm vs post-norm"],
                          "initial_config": {"model": "transformer_tiny", "dataset": "synthetic",
                                             "norm_position": ["pre", "post"], key: name}}}
    with pytest.raises(HypothesisError) as err:
        load_hypothesis(write(tmp_path, doc))
    message = str(err.value)
    assert f"hypothesis.initial_config.{key}: " in message and repr(name) in message
    assert "--executor command" in message and "--plugin" in message


def test_the_loop_exits_2_on_a_bad_factor_naming_file_and_field_and_writes_nothing(tmp_path):
    import subprocess
    import sys

    path = write(tmp_path, own_study(**{"__import__": "os"}))
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "loop.py"), "--hypothesis",
                           str(path), "--executor", "command", "--command", "true", "--out", str(run_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert f"{path}: hypothesis.initial_config.__import__: " in done.stderr and "dunder" in done.stderr
    assert not run_dir.exists()


def test_a_config_run_by_hand_with_a_factor_the_trainer_lacks_is_refused_before_training():
    import run_config
    from executor.train import validate

    with pytest.raises(ValueError, match=r"^opt: the built-in trainer has no factor 'opt'.*--executor command"):
        validate(run_config.from_dict({"model": "transformer_tiny", "opt": "adamw"}))
