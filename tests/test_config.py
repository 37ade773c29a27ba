import ast

import pytest

from executor import config as cfg

HOSTILE = [
    'x"; import os; os.system("rm -rf /") #',
    "line one\nline two\n'''\"\"\"",
    "__import__('os').system('id')",
    "\\x00 \u202e {braces} ${shell}",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_string_with_quotes_newlines_or_code_stays_data(tmp_path, text):
    config = cfg.TrainConfig(experiment_id="exp_0001", dataset=text, data_dir=text)
    py_path, json_path = cfg.write(config, tmp_path)
    assert cfg.load(py_path) == config
    assert cfg.load(json_path) == config
    # the module is plain: one class of annotated literals, nothing that calls anything
    tree = ast.parse(py_path.read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Call) and
                getattr(n.func, "id", None) != "Config" and getattr(n.func, "id", None) != "dataclass"]


def test_the_rendered_module_imports_as_a_dataclass(tmp_path):
    config = cfg.TrainConfig(experiment_id="exp_0002", learning_rate=1e-4, n_layer=None)
    py_path, _ = cfg.write(config, tmp_path)
    namespace = {}
    exec(compile(py_path.read_text(), str(py_path), "exec"), namespace)
    assert namespace["CONFIG"].learning_rate == 1e-4
    assert namespace["CONFIG"].experiment_id == "exp_0002"


def test_a_non_primitive_value_is_refused():
    with pytest.raises(TypeError, match="dataset"):
        cfg.render_python(cfg.TrainConfig(dataset=["a list"]))


def test_an_unknown_key_is_named():
    with pytest.raises(ValueError, match="colour"):
        cfg.from_dict({"colour": "red"})


def test_reading_a_config_never_executes_it(tmp_path):
    path = tmp_path / "evil.py"
    path.write_text("import os\nclass Config:\n    seed: int = __import__('os').getpid()\n")
    with pytest.raises(ValueError):
        cfg.load(path)


def test_precision_and_compile_are_factors_and_cuda_devices_is_plumbing():
    assert {"precision", "compile"} <= set(cfg.FACTORS)
    assert "cuda_devices" in cfg.PLUMBING and "cuda_devices" not in cfg.FACTORS
    assert (cfg.FIELD_TYPES["precision"], cfg.FIELD_TYPES["compile"]) == ("str", "bool")
    assert cfg.FIELD_TYPES["cuda_devices"] == "str | None"


def test_new_fields_round_trip_through_both_files(tmp_path):
    config = cfg.TrainConfig(experiment_id="exp_0003", precision="bf16", compile=True, cuda_devices="1,3")
    py_path, json_path = cfg.write(config, tmp_path)
    assert cfg.load(py_path) == config == cfg.load(json_path)
    assert "compile: bool = True" in py_path.read_text()


@pytest.mark.parametrize("field, value", [("precision", "fp8"), ("precision", "BF16"), ("compile", 1),
                                          ("compile", "true"), ("norm_position", "sandwich")])
def test_a_value_outside_a_fields_choices_is_refused_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=f"^{field}: {value!r} is not one of"):
        cfg.from_dict({field: value})


def test_every_choice_is_accepted():
    for field, allowed in cfg.CHOICES.items():
        for value in allowed:
            cfg.check_value(field, value)


def test_norm_position_choices_are_the_models_own():
    from models.transformer import NORM_POSITIONS

    assert cfg.CHOICES["norm_position"] == NORM_POSITIONS
