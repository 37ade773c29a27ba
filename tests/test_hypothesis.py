"""Loading hypothesis files: the example loads exactly; every bad file names file, field, value."""
from pathlib import Path

import pytest
import yaml

from parser.hypothesis import HypothesisError, hypothesis_name, load_hypothesis, search_space
from parser.schema import Condition, PredictionSpec

EXAMPLE = Path(__file__).resolve().parents[1] / "hypothesis.yaml"
P1 = "Val loss converges 20% faster with pre-norm vs post-norm at N < 5000 samples"
P2 = "Effect diminishes at N > 50000 samples"


def _base() -> dict:
    return {"claim": "Pre-norm converges faster on small data",
            "predictions": [P1, P2],
            "initial_config": {"model": "transformer_small", "dataset": "wikitext-2",
                               "norm_position": ["pre", "post"], "learning_rate": ["1e-4", "3e-4"],
                               "dataset_fraction": [0.1, 0.5, 1.0]}}


def _write(tmp_path: Path, content, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


def test_the_design_example_loads_with_both_predictions_compiled_exactly():
    h = load_hypothesis(EXAMPLE)
    p1, p2 = h.predictions
    assert p1.spec == PredictionSpec(
        kind="comparison", metric="steps_to_target", direction="lower", factor="norm_position",
        arm="pre", baseline="post", threshold=0.2, relative=True,
        condition=Condition(variable="n_train_samples", op="<", value=5000))
    assert p2.spec == p1.spec.model_copy(update={
        "kind": "interaction", "of": "p1", "threshold": 0.0,
        "condition": Condition(variable="n_train_samples", op=">", value=50000)})
    assert (p1.id, p2.id, h.parent) == ("p1", "p2", None)


def test_learning_rates_written_1e_4_load_as_floats():
    h = load_hypothesis(EXAMPLE)
    assert h.initial_config["learning_rate"] == [0.0001, 0.0003]
    assert all(type(v) is float for v in h.initial_config["learning_rate"])


def test_search_space_lists_every_key_with_typed_values():
    space = search_space(load_hypothesis(EXAMPLE))
    assert space["model"] == ["transformer_small"]
    assert space["dataset_fraction"] == [0.1, 0.5, 1.0]


def test_the_structured_form_is_accepted_directly(tmp_path):
    doc = _base()
    doc["predictions"] = [
        {"text": "pre-norm: 10% lower loss", "spec": {"metric": "final_val_loss", "factor": "norm_position",
                                                      "arm": "pre", "baseline": "post", "threshold": 0.1,
                                                      "condition": {"variable": "n_train_samples",
                                                                    "op": "<", "value": 5000}}},
        {"kind": "interaction", "of": "p1", "condition": "n_train_samples > 50000"},
    ]
    h = load_hypothesis(_write(tmp_path, {"hypothesis": doc}, "ok.yaml"))
    assert [p.compiled_by for p in h.predictions] == ["structured", "structured"]
    assert h.predictions[1].spec.arm == "pre" and h.predictions[1].spec.of == "p1"


def test_bounds_and_equivalences_load_in_both_forms(tmp_path):
    doc = _base()
    doc["predictions"] = [
        "Final val loss below 1.5 with pre-norm",
        "No difference in val loss between lr 1e-4 and lr 3e-4 at N < 5000 samples",
        {"kind": "bound", "metric": "peak_memory_mb", "direction": "lower", "threshold": 500},
        {"text": "lr makes no difference", "spec": {"kind": "equivalence", "factor": "learning_rate",
                                                    "arm": "3e-4", "baseline": "1e-4", "threshold": 0.02}},
    ]
    specs = [p.spec for p in load_hypothesis(_write(tmp_path, {"hypothesis": doc}, "ok.yaml")).predictions]
    assert [s.kind for s in specs] == ["bound", "equivalence", "bound", "equivalence"]
    assert (specs[0].factor, specs[0].arm, specs[0].threshold) == ("norm_position", "pre", 1.5)
    assert (specs[1].arm, specs[1].baseline, specs[1].threshold) == (1e-4, 3e-4, 0.05)
    assert specs[1].condition == Condition(variable="n_train_samples", op="<", value=5000)
    assert (specs[2].factor, specs[2].arm, specs[2].relative) == ("", None, False)
    assert (specs[3].arm, specs[3].baseline) == (3e-4, 1e-4)


def test_int_fields_take_integer_values_and_none_where_allowed(tmp_path):
    doc = _base()
    doc["initial_config"].update(n_layer=[2, None], seed="3", max_steps=1e3)
    config = load_hypothesis(_write(tmp_path, {"hypothesis": doc}, "ok.yaml")).initial_config
    assert (config["n_layer"], config["seed"], config["max_steps"]) == ([2, None], 3, 1000)


def test_precision_and_compile_can_be_varied_and_load_typed(tmp_path):
    doc = _base()
    doc["initial_config"].update(precision=["fp32", "bf16"], compile=[False, True])
    doc["predictions"] = [{"metric": "tokens_per_s", "direction": "higher", "factor": "compile",
                           "arm": True, "baseline": False, "threshold": 0.1, "relative": True},
                          {"metric": "final_val_loss", "factor": "precision", "arm": "bf16",
                           "baseline": "fp32", "kind": "equivalence", "threshold": 0.02}]
    h = load_hypothesis(_write(tmp_path, {"hypothesis": doc}, "ok.yaml"))
    assert h.initial_config["precision"] == ["fp32", "bf16"]
    assert h.initial_config["compile"] == [False, True]
    assert all(type(v) is bool for v in h.initial_config["compile"])
    assert (h.predictions[0].spec.arm, h.predictions[0].spec.baseline) == (True, False)
    assert search_space(h)["precision"] == ["fp32", "bf16"]


def test_a_config_built_from_an_unknown_precision_is_refused_naming_field_and_value():
    """A config file written by hand (python -m executor.train CONFIG) is checked too."""
    from run_config import from_dict

    with pytest.raises(ValueError, match=r"^precision: 'fp8' is not one of 'fp32', 'bf16'$"):
        from_dict({"precision": "fp8"})


def test_an_unknown_precision_is_refused_when_the_file_loads(tmp_path):
    with pytest.raises(HypothesisError, match=r"hypothesis.initial_config.precision.*'fp8'"):
        load_hypothesis(_write(tmp_path, _set("initial_config.precision", "fp8")))


def test_the_name_defaults_to_a_slug_of_the_file_stem(tmp_path):
    assert hypothesis_name(tmp_path / "my study!.yaml", {"hypothesis": {}}) == "my-study"


def test_an_explicit_name_is_used_for_the_run_directory(tmp_path):
    path = _write(tmp_path, {"hypothesis": {**_base(), "name": "prenorm-v2"}}, "h.yaml")
    load_hypothesis(path)
    assert hypothesis_name(path) == "prenorm-v2"


def _set(path: str, value):
    """A copy of the base document with one value replaced (dotted path under `hypothesis`)."""
    doc = _base()
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    node[last] = value
    return {"hypothesis": doc}


def _drop(path: str):
    doc = _set(path, None)
    *parents, last = path.split(".")
    node = doc["hypothesis"]
    for key in parents:
        node = node[key]
    del node[last]
    return doc


STRUCTURED_ARM = {"factor": "norm_position", "arm": "sandwich", "baseline": "post"}
STRUCTURED_DEPTH = {"factor": "norm_position", "arm": "pre", "baseline": "post",
                    "condition": {"variable": "depth", "op": ">", "value": 4}}
# (content, field named, value named); content is a document or raw YAML text.
MALFORMED = {
    "unknown top-level key": ({"hypothesis": _base(), "extra": 1}, "extra", "'extra'"),
    "top level not a mapping": ("- a\n- b\n", "top level", "['a', 'b']"),
    "empty file": ("", "top level", "None"),
    "missing hypothesis key": ({"claim": "x"}, "claim", "'claim'"),
    "unknown hypothesis key": (_set("claims", "x"), "hypothesis.claims", "'claims'"),
    "claim of the wrong type": (_set("claim", ["a", "b"]), "hypothesis.claim", "['a', 'b']"),
    "empty claim": (_set("claim", "  "), "hypothesis.claim", "'  '"),
    "empty predictions": (_set("predictions", []), "hypothesis.predictions", "[]"),
    "initial_config not a mapping": (_set("initial_config", [1]), "hypothesis.initial_config", "[1]"),
    "unknown model": (_set("initial_config.model", "gpt5"), "hypothesis.initial_config.model", "'gpt5'"),
    "unknown dataset in a list": (_set("initial_config.dataset", ["synthetic", "imagenet"]),
                                  "hypothesis.initial_config.dataset[1]", "'imagenet'"),
    "missing model": (_drop("initial_config.model"), "hypothesis.initial_config.model", "missing"),
    "unknown config key": (_set("initial_config.batchsize", 4), "hypothesis.initial_config.batchsize",
                           "'batchsize'"),
    "bad float": (_set("initial_config.learning_rate", ["1e-4", "fast"]),
                  "hypothesis.initial_config.learning_rate[1]", "'fast'"),
    "int field given 2.5": (_set("initial_config.n_layer", 2.5), "hypothesis.initial_config.n_layer", "2.5"),
    "int field given abc": (_set("initial_config.seed", "abc"), "hypothesis.initial_config.seed", "'abc'"),
    "bool field given a string": (_set("initial_config.compile", ["yes", False]),
                                  "hypothesis.initial_config.compile[0]", "'yes'"),
    "bool field given an int": (_set("initial_config.compile", 1), "hypothesis.initial_config.compile", "1"),
    "bool is not an int": (_set("initial_config.seed", True), "hypothesis.initial_config.seed", "True"),
    "empty value list": (_set("initial_config.dropout", []), "hypothesis.initial_config.dropout", "[]"),
    "duplicate list value": (_set("initial_config.learning_rate", ["1e-4", 0.0001]),
                             "hypothesis.initial_config.learning_rate", "0.0001"),
    "unreadable prediction": (_set("predictions", ["Pre-norm is nicer"]), "hypothesis.predictions[0]",
                              '"Pre-norm is nicer"'),
    "interaction with no prior comparison": (_set("predictions", [P2]), "hypothesis.predictions[0]",
                                             f'"{P2}"'),
    "prediction of the wrong type": (_set("predictions", [P1, 42]), "hypothesis.predictions[1]", "42"),
    "arm not in space (text)": (_set("predictions", ["Val loss is lower with sandwich-norm vs post-norm"]),
                                "hypothesis.predictions[0]", "'sandwich-norm'"),
    "arm not in space (structured)": (_set("predictions", [STRUCTURED_ARM]), "hypothesis.predictions[0]",
                                      "'sandwich'"),
    "factor not in initial_config": (_set("predictions", [{"factor": "dropout", "arm": 0.1, "baseline": 0.0}]),
                                     "hypothesis.predictions[0]", "'dropout'"),
    "condition on an unknown variable": (_set("predictions", [STRUCTURED_DEPTH]), "hypothesis.predictions[0]",
                                         "'depth'"),
    "structured field out of range": (_set("predictions", [{**STRUCTURED_ARM, "arm": "pre", "threshold": -1}]),
                                      "hypothesis.predictions[0].threshold", "-1"),
    "of naming no earlier prediction": (_set("predictions", [P1, {"kind": "interaction", "of": "p7",
                                                                 "condition": "n > 50000"}]),
                                        "hypothesis.predictions[1].of", "'p7'"),
    "equivalence arm not in space (text)": (
        _set("predictions", ["No difference in val loss between sandwich-norm and post-norm"]),
        "hypothesis.predictions[0]", "'sandwich-norm'"),
    "equivalence arm not in space (structured)": (
        _set("predictions", [{**STRUCTURED_ARM, "kind": "equivalence", "threshold": 0.05}]),
        "hypothesis.predictions[0]", "'sandwich'"),
    "equivalence baseline not in space": (
        _set("predictions", [{"kind": "equivalence", "factor": "learning_rate", "arm": "1e-4",
                              "baseline": "1e-2", "threshold": 0.05}]),
        "hypothesis.predictions[0]", "baseline 0.01"),
    "equivalence across a factor not set": (
        _set("predictions", [{"kind": "equivalence", "factor": "dropout", "arm": 0.1, "baseline": 0.0,
                              "threshold": 0.05}]), "hypothesis.predictions[0]", "'dropout'"),
    "equivalence without a margin": (
        _set("predictions", [{"spec": {**STRUCTURED_ARM, "arm": "pre", "kind": "equivalence"}}]),
        "hypothesis.predictions[0].spec", "needs a margin"),
    "bound with a value of no factor": (_set("predictions", ["Val loss below 1.5 with sandwich-norm"]),
                                        "hypothesis.predictions[0]", "'sandwich-norm'"),
    "bound arm not in space (structured)": (
        _set("predictions", [{"kind": "bound", "threshold": 1.5, "factor": "norm_position", "arm": "mid"}]),
        "hypothesis.predictions[0]", "'mid'"),
    "bound on a factor not set": (
        _set("predictions", [{"kind": "bound", "threshold": 1.5, "factor": "dropout", "arm": 0.1}]),
        "hypothesis.predictions[0]", "'dropout'"),
    "bound arm without its factor": (_set("predictions", [{"kind": "bound", "threshold": 1.5, "arm": "pre"}]),
                                     "hypothesis.predictions[0]", "'pre'"),
    "bound with a baseline": (
        _set("predictions", [{"kind": "bound", "threshold": 1.5, "factor": "norm_position", "arm": "pre",
                              "baseline": "post"}]), "hypothesis.predictions[0]", "'post'"),
    "bound factor without its arm": (
        _set("predictions", [{"kind": "bound", "threshold": 1.5, "factor": "norm_position"}]),
        "hypothesis.predictions[0]", "'norm_position'"),
    "bound condition on an unknown variable": (
        _set("predictions", [{"kind": "bound", "threshold": 1.5,
                              "condition": {"variable": "depth", "op": ">", "value": 4}}]),
        "hypothesis.predictions[0]", "'depth'"),
    "bound with a relative threshold": (
        _set("predictions", [{"kind": "bound", "threshold": 0.2, "relative": True}]),
        "hypothesis.predictions[0].relative", "relative: true"),
    "written loss target not positive": (
        _set("predictions", [{"spec": {**STRUCTURED_ARM, "arm": "pre", "metric": "steps_to_target",
                                       "target": -2.0}}]), "hypothesis.predictions[0].spec.target", "-2.0"),
    "written loss target on another metric": (
        _set("predictions", [{**STRUCTURED_ARM, "arm": "pre", "target": 2.0}]),
        "hypothesis.predictions[0].target", "final_val_loss"),
    "written loss target of zero (text)": (
        _set("predictions", ["Reaches val loss 0 20% sooner with pre-norm vs post-norm"]),
        "hypothesis.predictions[0]", "loss target 0"),
    "YAML syntax error": ("hypothesis:\n  claim: [unclosed\n  predictions: []\n", "line 3",
                          "predictions: []"),
    "name escaping the runs directory": (_set("name", "../escape"), "hypothesis.name", "'../escape'"),
}


@pytest.mark.parametrize("content, field, value", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_is_refused_naming_file_field_and_value(tmp_path, content, field, value):
    with pytest.raises(HypothesisError) as err:
        load_hypothesis(_write(tmp_path, content))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'bad.yaml'}: "), message
    assert field in message and value in message, message


def test_a_python_tag_is_refused_by_safe_load_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = _write(tmp_path, f'hypothesis: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(HypothesisError) as err:
        load_hypothesis(path)
    assert str(err.value).startswith(f"{path}: line 1: ") and "python/object/apply:os.system" in str(err.value)
    assert not marker.exists()


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(HypothesisError, match=r"nowhere\.yaml: no such file"):
        load_hypothesis(tmp_path / "nowhere.yaml")


def test_an_unknown_key_error_lists_the_valid_keys(tmp_path):
    with pytest.raises(HypothesisError, match="valid keys: claim, id, initial_config, metrics, name, plugins, predictions"):
        load_hypothesis(_write(tmp_path, _set("claims", "x")))


def test_hypothesis_name_refuses_a_name_with_a_path_separator(tmp_path):
    with pytest.raises(HypothesisError, match=r"hypothesis\.name: '\.\./x'"):
        hypothesis_name(tmp_path / "h.yaml", {"hypothesis": {"name": "../x"}})


class TestWithTheRealRegistries:
    def test_the_design_example_names_a_registered_model_and_dataset(self):
        assert load_hypothesis(EXAMPLE).initial_config["model"] == "transformer_small"
