"""The deterministic prediction compiler: plain phrasings -> exact PredictionSpecs."""
import pytest

from parser.compile import compile_all
from parser.amounts import parse_number
from parser.prediction_error import PredictionError
from parser.predictions import compile_prediction
from parser.schema import Condition, Prediction, PredictionSpec

SPACE = {
    "model": ["transformer_small"],
    "dataset": ["wikitext-2"],
    "norm_position": ["pre", "post"],
    "learning_rate": [1e-4, 3e-4],
    "dataset_fraction": [0.1, 0.5, 1.0],
    "n_layer": [2, 4],
}
P1_TEXT = "Val loss converges 20% faster with pre-norm vs post-norm at N < 5000 samples"
P1_SPEC = PredictionSpec(kind="comparison", metric="steps_to_target", direction="lower",
                         factor="norm_position", arm="pre", baseline="post", threshold=0.2,
                         relative=True, condition=Condition(variable="n_train_samples", op="<", value=5000))


def _previous() -> list[Prediction]:
    return [Prediction(id="p1", text=P1_TEXT, spec=P1_SPEC)]


def _cond(variable, op, value):
    return Condition(variable=variable, op=op, value=value)


def test_the_design_example_compiles_to_a_relative_steps_comparison():
    assert compile_prediction(P1_TEXT, SPACE, []) == P1_SPEC


def test_effect_diminishes_is_an_interaction_with_the_latest_comparison():
    spec = compile_prediction("Effect diminishes at N > 50000 samples", SPACE, _previous())
    assert spec == P1_SPEC.model_copy(update={
        "kind": "interaction", "of": "p1", "threshold": 0.0,
        "condition": _cond("n_train_samples", ">", 50000)})


def test_an_interaction_refers_to_the_latest_of_several_comparisons():
    texts = [P1_TEXT, "Val loss is lower with lr 3e-4 vs lr 1e-4", "Effect vanishes at N > 5e4"]
    predictions = compile_all(texts, SPACE)
    assert predictions[2].spec.of == "p2"
    assert predictions[2].spec.factor == "learning_rate"


PHRASINGS = [
    ("Val loss is lower by 0.05 with pre-norm vs post-norm",
     dict(metric="final_val_loss", direction="lower", threshold=0.05, relative=False)),
    ("Validation loss is 10% lower for prenorm versus postnorm",
     dict(metric="final_val_loss", arm="pre", baseline="post", threshold=0.1)),
    ("Bits per byte are lower with lr 3e-4 than lr 1e-4",
     dict(metric="final_val_bpc", factor="learning_rate", arm=0.0003, baseline=0.0001)),
    ("BPC 5% lower with pre-norm compared to post-norm at lr 3e-4",
     dict(metric="final_val_bpc", threshold=0.05, condition=_cond("learning_rate", "==", 3e-4))),
    ("Pre-norm trains 10% faster than post-norm",
     dict(metric="train_time_s", direction="lower", threshold=0.1)),
    ("Pre-norm uses less memory than post-norm",
     dict(metric="peak_memory_mb", direction="lower", threshold=0.0)),
    ("Throughput is 15% higher with 2 layers vs 4 layers",
     dict(metric="tokens_per_s", direction="higher", factor="n_layer", arm=2, baseline=4)),
    ("Tokens per second are better with post-norm vs pre-norm when N >= 1000",
     dict(metric="tokens_per_s", direction="higher", arm="post", baseline="pre",
          condition=_cond("n_train_samples", ">=", 1000))),
    ("Convergence is better with pre-norm vs post-norm for N > 5e4",
     dict(metric="steps_to_target", direction="lower", condition=_cond("n_train_samples", ">", 50000))),
    ("Pre-norm converges 2x faster than post-norm", dict(metric="steps_to_target", threshold=0.5)),
    ("Val loss 20% lower with pre-norm vs post-norm at N < 5,000 samples",
     dict(condition=_cond("n_train_samples", "<", 5000))),
    ("Val loss 20% lower with pre-norm vs post-norm at n < 50k",
     dict(condition=_cond("n_train_samples", "<", 50000))),
    ("Val loss is lower with fraction 1.0 vs fraction 0.1",
     dict(factor="dataset_fraction", arm=1.0, baseline=0.1)),
    ("Val loss is lower at fraction 0.1 with pre-norm vs post-norm",
     dict(condition=_cond("dataset_fraction", "==", 0.1))),
    ("Val loss is 5% lower with pre-norm vs post-norm when n_train_samples = 1000",
     dict(condition=_cond("n_train_samples", "==", 1000))),
    ("Val loss is lower with pre-norm vs post-norm at learning_rate = 1e-4",
     dict(condition=_cond("learning_rate", "==", 1e-4))),
    ("Val loss is lower with pre-norm vs post-norm on fewer than 5000 samples",
     dict(condition=_cond("n_train_samples", "<", 5000))),
    ("With pre-norm compared to post-norm, val loss is more than 20% lower.",
     dict(direction="lower", threshold=0.2)),
    ("tokens/s 10% higher with pre-LN vs post-LN", dict(metric="tokens_per_s", arm="pre")),
]


@pytest.mark.parametrize("text, expected", PHRASINGS, ids=[t for t, _ in PHRASINGS])
def test_common_phrasings_compile_to_the_expected_fields(text, expected):
    spec = compile_prediction(text, SPACE, [])
    assert {key: getattr(spec, key) for key in expected} == expected


def test_numeric_arms_compare_numerically_and_take_the_space_value():
    spec = compile_prediction("Loss is lower with lr 0.0003 vs lr 1.0e-4", SPACE, [])
    assert (spec.arm, spec.baseline) == (3e-4, 1e-4)
    assert isinstance(spec.arm, float)


@pytest.mark.parametrize("text, expected", [
    ("5,000", 5000.0), ("5e3", 5000.0), ("50k", 50000.0), ("3e-4", 0.0003), ("abc", None), ("nan", None)])
def test_numbers_are_read_in_their_usual_spellings(text, expected):
    assert parse_number(text) == expected


def test_an_interaction_without_an_earlier_comparison_is_refused():
    with pytest.raises(PredictionError, match="no.*comparison|there is none"):
        compile_prediction("Effect diminishes at N > 50000 samples", SPACE, [])


def test_an_interaction_needs_a_condition():
    with pytest.raises(PredictionError, match="needs a condition"):
        compile_prediction("The effect diminishes", SPACE, _previous())


def test_an_unknown_arm_names_the_words_and_the_factors_tried():
    with pytest.raises(PredictionError) as err:
        compile_prediction("Val loss is lower with sandwich-norm vs post-norm", SPACE, [])
    assert "'sandwich-norm'" in str(err.value) and "norm_position" in str(err.value)


def test_arms_matching_two_factors_are_ambiguous_unless_the_factor_is_named():
    space = {"dropout": [0.1, 0.5], "dataset_fraction": [0.1, 0.5]}
    with pytest.raises(PredictionError, match="ambiguous.*dropout.*dataset_fraction"):
        compile_prediction("Val loss is lower with 0.1 vs 0.5", space, [])
    assert compile_prediction("Val loss is lower with dropout 0.1 vs 0.5", space, []).factor == "dropout"


def test_a_condition_on_an_unknown_variable_is_refused():
    with pytest.raises(PredictionError, match="unknown variable 'depth'"):
        compile_prediction("Val loss lower with pre-norm vs post-norm at depth > 4", SPACE, [])


def test_the_error_quotes_the_text_and_shows_the_structured_form():
    with pytest.raises(PredictionError) as err:
        compile_prediction("Pre-norm is nicer than post-norm", SPACE, [])
    message = str(err.value)
    assert message.startswith('cannot read prediction "Pre-norm is nicer than post-norm": no metric')
    for field in ("kind:", "metric:", "direction:", "factor:", "arm:", "baseline:",
                  "threshold:", "relative:", "condition:", "of:"):
        assert field in message


def test_compile_all_numbers_predictions_and_records_the_compiler():
    predictions = compile_all([P1_TEXT, {"metric": "final_val_loss", "factor": "norm_position",
                                         "arm": "pre", "baseline": "post"}], SPACE)
    assert [(p.id, p.compiled_by) for p in predictions] == [("p1", "parser"), ("p2", "structured")]


def test_a_structured_item_may_nest_its_fields_under_spec_with_a_text():
    item = {"text": "pre-norm wins", "spec": {"metric": "final_val_loss", "factor": "norm_position",
                                              "arm": "pre", "baseline": "post", "threshold": 0.1}}
    prediction = compile_all([item], SPACE)[0]
    assert prediction.text == "pre-norm wins" and prediction.spec.threshold == 0.1


def test_structured_values_are_typed_from_the_space():
    item = {"factor": "learning_rate", "arm": "3e-4", "baseline": "1e-4",
            "condition": "n_train_samples < 5,000"}
    spec = compile_all([item], SPACE)[0].spec
    assert (spec.arm, spec.baseline) == (3e-4, 1e-4)
    assert spec.condition == _cond("n_train_samples", "<", 5000)


def test_a_structured_interaction_copies_its_comparison():
    items = [P1_TEXT, {"kind": "interaction", "of": "p1",
                       "condition": {"variable": "n_train_samples", "op": ">", "value": "5e4"}}]
    spec = compile_all(items, SPACE)[1].spec
    assert (spec.metric, spec.factor, spec.arm, spec.baseline) == ("steps_to_target", "norm_position", "pre", "post")
    assert spec.condition.value == 50000.0


def test_a_structured_of_must_name_an_earlier_comparison():
    items = [{"kind": "interaction", "of": "p2", "condition": "n > 50000"}, P1_TEXT]
    with pytest.raises(PredictionError) as err:
        compile_all(items, SPACE)
    assert (err.value.index, err.value.field) == (0, "of") and "'p2'" in str(err.value)


def test_a_structured_validation_error_names_the_field_and_value():
    items = [{"spec": {"factor": "norm_position", "arm": "pre", "baseline": "post", "threshold": -1}}]
    with pytest.raises(PredictionError) as err:
        compile_all(items, SPACE)
    assert err.value.field == "spec.threshold" and "-1" in str(err.value)


# --- structured bounds and equivalences ---------------------------------------------

def test_a_structured_bound_is_typed_and_stored_as_absolute():
    item = {"kind": "bound", "metric": "final_val_loss", "direction": "lower", "threshold": 1.5,
            "factor": "learning_rate", "arm": "3e-4", "condition": "n < 5000"}
    prediction = compile_all([item], SPACE)[0]
    assert prediction.compiled_by == "structured"
    assert prediction.spec == PredictionSpec(kind="bound", metric="final_val_loss", direction="lower",
                                             threshold=1.5, factor="learning_rate", arm=3e-4, relative=False,
                                             condition=_cond("n_train_samples", "<", 5000))


def test_a_structured_bound_equals_its_plain_phrasing():
    text = "Tokens per second above 5000 with post-norm"
    item = {"text": text, "spec": {"kind": "bound", "metric": "tokens_per_s", "direction": "higher",
                                   "threshold": 5000, "factor": "norm_position", "arm": "post"}}
    plain, structured = compile_all([text, item], SPACE)
    assert plain.spec == structured.spec


def test_a_structured_bound_refuses_a_relative_threshold():
    with pytest.raises(PredictionError) as err:
        compile_all([{"spec": {"kind": "bound", "threshold": 1.5, "relative": True}}], SPACE)
    assert err.value.field == "spec.relative"


def test_a_structured_equivalence_keeps_its_margin():
    item = {"kind": "equivalence", "metric": "final_val_loss", "factor": "norm_position",
            "arm": "pre", "baseline": "post", "threshold": 0.05, "relative": False}
    spec = compile_all([item], SPACE)[0].spec
    assert (spec.kind, spec.threshold, spec.relative) == ("equivalence", 0.05, False)
    assert spec == compile_prediction("val loss of pre-norm vs post-norm is equivalent within 0.05", SPACE, [])


def test_a_structured_equivalence_without_a_margin_is_refused():
    item = {"spec": {"kind": "equivalence", "factor": "norm_position", "arm": "pre", "baseline": "post"}}
    with pytest.raises(PredictionError, match="needs a margin"):
        compile_all([item], SPACE)


def test_an_interaction_takes_its_practical_margin_from_the_text():
    spec = compile_prediction("Effect diminishes by more than 10% at N > 50000 samples", SPACE, _previous())
    assert spec.kind == "interaction" and spec.threshold == pytest.approx(0.1)
    assert spec.condition == _cond("n_train_samples", ">", 50000)
    assert "by more than 10%" in spec.text()


def test_an_interaction_with_no_margin_given_states_the_default_one():
    spec = compile_prediction("Effect diminishes at N > 50000 samples", SPACE, _previous())
    assert spec.margin() == pytest.approx(0.05) and "by more than 5%" in spec.text()


# --- a written loss target (steps_to_target) ----------------------------------------

_SPEED = dict(metric="steps_to_target", direction="lower", factor="norm_position", arm="pre", baseline="post")
TARGETS = [
    ("Reaches val loss 2.0 20% sooner with pre-norm vs post-norm at N < 5000 samples",
     dict(threshold=0.2, target=2.0, condition=_cond("n_train_samples", "<", 5000))),
    ("Pre-norm reaches a val loss of 2.0 in 20% fewer steps than post-norm", dict(threshold=0.2, target=2.0)),
    ("Val loss converges to val loss 1.75 10% faster with pre-norm vs post-norm", dict(threshold=0.1, target=1.75)),
    ("Pre-norm reaches a validation loss below 2 faster than post-norm at lr 3e-4",
     dict(target=2.0, condition=_cond("learning_rate", "==", 3e-4))),
    # the target's number is neither the condition's value nor the effect size
    ("Reaches val loss 5000 20% sooner with pre-norm vs post-norm at N < 5000 samples",
     dict(threshold=0.2, target=5000.0, condition=_cond("n_train_samples", "<", 5000))),
    ("Reaches val loss 0.2 20% sooner with pre-norm vs post-norm", dict(threshold=0.2, target=0.2)),
    ("Val loss converges 20% faster with pre-norm vs post-norm at val loss 2.0", dict(threshold=0.2, target=2.0)),
    ("Val loss converges 20% faster with pre-norm vs post-norm at a val loss of 2.0 at N < 5000 samples",
     dict(threshold=0.2, target=2.0, condition=_cond("n_train_samples", "<", 5000))),
]


@pytest.mark.parametrize("text, expected", TARGETS)
def test_a_loss_target_written_in_the_text_is_read_as_the_target_not_a_condition_or_threshold(text, expected):
    assert compile_prediction(text, SPACE, []) == PredictionSpec(**{**_SPEED, **expected})


def test_a_written_target_is_shown_in_the_definition():
    spec = compile_prediction(TARGETS[0][0], SPACE, [])
    assert spec.text().startswith("steps to val loss 2.0 [pre] / steps to val loss 2.0 [post] < 0.8")


def test_an_equivalence_of_convergence_speed_may_take_a_written_target():
    spec = compile_prediction("Pre-norm gets to val loss 2 in the same number of steps as post-norm", SPACE, [])
    assert (spec.kind, spec.metric, spec.target, spec.threshold) == ("equivalence", "steps_to_target", 2.0, 0.05)


def test_a_loss_percentage_or_factor_is_not_a_target():
    assert compile_prediction("Val loss 2% lower with pre-norm vs post-norm", SPACE, []).target is None
    assert compile_prediction(P1_TEXT, SPACE, []).target is None


def test_an_interaction_inherits_its_comparisons_target():
    texts = [TARGETS[0][0], "Effect diminishes at N > 50000 samples"]
    spec = compile_all(texts, SPACE)[1].spec
    assert (spec.kind, spec.of, spec.target) == ("interaction", "p1", 2.0)


@pytest.mark.parametrize("text, reason", [
    ("Reaches val loss 0 20% sooner with pre-norm vs post-norm", "not a positive number"),
    ("Reaches val loss 2.0 or reaches val loss 1.5 sooner with pre-norm vs post-norm", "more than one loss target"),
    ("Reaches val loss 2.0 in 20% less memory with pre-norm vs post-norm", "also names peak_memory_mb"),
    ("Reaches val loss 2.0 with a 10% lower final loss with pre-norm vs post-norm", "also names final_val_loss"),
    ("Pre-norm reaches val loss 2.0 in under 300 steps", "not a bound"),
    ("Reaches val loss 20% sooner with pre-norm vs post-norm", "no direction for final_val_loss"),
    ("Reaches val loss 2.0 20% sooner with pre-norm", "no comparison found"),
])
def test_a_written_target_that_cannot_be_read_exactly_is_refused(text, reason):
    with pytest.raises(PredictionError, match=reason):
        compile_prediction(text, SPACE, [])


def test_an_interaction_naming_another_target_than_its_comparisons_is_refused():
    with pytest.raises(PredictionError, match="comparison's loss target"):
        compile_all([TARGETS[0][0], "Effect at val loss 1.5 diminishes at N > 50000 samples".replace(
            "at val loss", "to val loss")], SPACE)


def test_a_structured_spec_takes_a_written_target():
    item = {"spec": {**_SPEED, "threshold": 0.2, "target": 2.0}}
    assert compile_all([item], SPACE)[0].spec.target == 2.0


@pytest.mark.parametrize("target, message", [(0, "greater than 0"), (-1.0, "greater than 0"),
                                             (float("inf"), "finite"), ("soon", "number")])
def test_a_structured_target_out_of_range_names_the_field_and_value(target, message):
    with pytest.raises(PredictionError, match=message) as err:
        compile_all([{"spec": {**_SPEED, "target": target}}], SPACE)
    assert err.value.field == "spec.target" and repr(target) in str(err.value)


def test_a_structured_target_on_another_metric_names_the_field():
    with pytest.raises(PredictionError, match="convergence-speed prediction") as err:
        compile_all([{"spec": {**_SPEED, "metric": "final_val_loss", "target": 2.0}}], SPACE)
    assert err.value.field == "spec.target"


def test_a_structured_interaction_keeps_its_comparisons_target():
    items = [{"spec": {**_SPEED, "target": 2.0}},
             {"kind": "interaction", "condition": "n > 50000"}]
    assert compile_all(items, SPACE)[1].spec.target == 2.0
    with pytest.raises(PredictionError, match="p1's loss target") as err:
        compile_all([items[0], {**items[1], "metric": "steps_to_target", "target": 1.5}], SPACE)
    assert err.value.field == "target"
