import ast
import json

import pytest

import run_config
from executor import config_file

HOSTILE = [
    'x"; import os; os.system("rm -rf /") #',
    "line one\nline two\n'''\"\"\"",
    "__import__('os').system('id')",
    "\\x00 \u202e {braces} ${shell}",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_string_with_quotes_newlines_or_code_stays_data(tmp_path, text):
    config = run_config.TrainConfig(experiment_id="exp_0001", dataset=text, data_dir=text)
    py_path, json_path = config_file.write(config, tmp_path)
    assert config_file.load(py_path) == config
    assert config_file.load(json_path) == config
    # the module is plain: one class of annotated literals, nothing that calls anything
    tree = ast.parse(py_path.read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Call) and
                getattr(n.func, "id", None) != "Config" and getattr(n.func, "id", None) != "dataclass"]


def test_the_rendered_module_imports_as_a_dataclass(tmp_path):
    config = run_config.TrainConfig(experiment_id="exp_0002", learning_rate=1e-4, n_layer=None)
    py_path, _ = config_file.write(config, tmp_path)
    namespace = {}
    exec(compile(py_path.read_text(), str(py_path), "exec"), namespace)
    assert namespace["CONFIG"].learning_rate == 1e-4
    assert namespace["CONFIG"].experiment_id == "exp_0002"


def test_a_non_primitive_value_is_refused():
    with pytest.raises(TypeError, match="dataset"):
        config_file.render_python(run_config.TrainConfig(dataset=["a list"]))


def test_a_key_that_is_no_field_is_a_user_factor_kept_flat_beside_the_fields():
    config = run_config.from_dict({"colour": "red", "width": 64, "learning_rate": 1e-3})
    assert config.user_factors == {"colour": "red", "width": 64}
    assert run_config.to_dict(config)["colour"] == "red" and "user_factors" not in run_config.to_dict(config)


@pytest.mark.parametrize("key", ["colour-x", "__class__", "1st", "metrics_path x"])
def test_a_key_that_is_not_an_identifier_or_is_a_dunder_is_named(key):
    with pytest.raises(ValueError, match="factor"):
        run_config.from_dict({key: "red"})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "x" * 201, "", [1], {"a": 1}, None])
def test_a_user_factor_value_that_is_no_finite_scalar_or_too_long_is_refused(value):
    with pytest.raises(ValueError, match="colour"):
        run_config.from_dict({"colour": value})


@pytest.mark.parametrize("text", HOSTILE)
def test_a_user_factor_holding_a_hostile_string_stays_data(tmp_path, text):
    config = run_config.TrainConfig(experiment_id="exp_0003", user_factors={"note": text, "width": 8})
    py_path, json_path = config_file.write(config, tmp_path)
    assert config_file.load(py_path) == config
    assert config_file.load(json_path) == config
    assert json.loads(json_path.read_text())["note"] == text


def test_reading_a_config_never_executes_it(tmp_path):
    path = tmp_path / "evil.py"
    path.write_text("import os\nclass Config:\n    seed: int = __import__('os').getpid()\n")
    with pytest.raises(ValueError):
        config_file.load(path)


def test_precision_and_compile_are_factors_and_cuda_devices_is_plumbing():
    assert {"precision", "compile"} <= set(run_config.FACTORS)
    assert "cuda_devices" in run_config.PLUMBING and "cuda_devices" not in run_config.FACTORS
    assert (run_config.FIELD_TYPES["precision"], run_config.FIELD_TYPES["compile"]) == ("str", "bool")
    assert run_config.FIELD_TYPES["cuda_devices"] == "str | None"


def test_new_fields_round_trip_through_both_files(tmp_path):
    config = run_config.TrainConfig(experiment_id="exp_0003", precision="bf16", compile=True, cuda_devices="1,3")
    py_path, json_path = config_file.write(config, tmp_path)
    assert config_file.load(py_path) == config == config_file.load(json_path)
    assert "compile: bool = True" in py_path.read_text()


@pytest.mark.parametrize("field, value", [("precision", "fp8"), ("precision", "BF16"), ("compile", 1),
                                          ("compile", "true"), ("norm_position", "sandwich")])
def test_a_value_outside_a_fields_choices_is_refused_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=f"^{field}: {value!r} is not one of"):
        run_config.from_dict({field: value})


def test_every_choice_is_accepted():
    for field, allowed in run_config.CHOICES.items():
        for value in allowed:
            run_config.check_value(field, value)


