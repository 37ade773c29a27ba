"""Bounds and equivalences in plain words -> exact PredictionSpecs (parser/bounds.py)."""
import pytest

from parser.prediction_error import PredictionError
from parser.predictions import compile_prediction
from parser.schema import PredictionSpec
from tests.test_predictions import SPACE, _cond

# --- absolute bounds ----------------------------------------------------------------

BOUNDS = [
    ("Final val loss below 1.5 with pre-norm",
     dict(metric="final_val_loss", direction="lower", threshold=1.5, factor="norm_position", arm="pre")),
    ("val loss under 2.0 at N < 5000 samples",
     dict(threshold=2.0, factor="", arm=None, condition=_cond("n_train_samples", "<", 5000))),
    ("bits per byte below 1.2", dict(metric="final_val_bpc", direction="lower", threshold=1.2)),
    ("tokens per second above 5000 with post-norm",
     dict(metric="tokens_per_s", direction="higher", threshold=5000, arm="post")),
    ("peak memory under 500 MB", dict(metric="peak_memory_mb", direction="lower", threshold=500, factor="")),
    ("Throughput at least 5k tokens/s", dict(metric="tokens_per_s", direction="higher", threshold=5000)),
    ("Training time less than 300 s with 2 layers",
     dict(metric="train_time_s", direction="lower", threshold=300, factor="n_layer", arm=2)),
    ("val loss at most 1.5 with lr 3e-4", dict(factor="learning_rate", arm=3e-4, condition=None)),
    ("Val loss stays below 1.5 using post-LN at fraction 0.1",
     dict(arm="post", condition=_cond("dataset_fraction", "==", 0.1))),
    ("val loss < 1.5 on fewer than 5000 samples",
     dict(direction="lower", condition=_cond("n_train_samples", "<", 5000))),
    ("Peak memory over 1,200 MB with pre-norm", dict(direction="higher", threshold=1200)),
]


@pytest.mark.parametrize("text, expected", BOUNDS, ids=[t for t, _ in BOUNDS])
def test_absolute_bounds_compile_to_the_expected_fields(text, expected):
    spec = compile_prediction(text, SPACE, [])
    assert spec.kind == "bound" and spec.relative is False and spec.baseline is None
    assert {key: getattr(spec, key) for key in expected} == expected


def test_a_bound_states_its_exact_definition():
    spec = compile_prediction("Final val loss below 1.5 with pre-norm", SPACE, [])
    assert spec.text() == "mean final_val_loss over seeds < 1.5 with norm_position = pre"


@pytest.mark.parametrize("text", [
    "Val loss 20% lower with pre-norm vs post-norm at N < 5000 samples",
    "With pre-norm compared to post-norm, val loss is more than 20% lower.",
    "Pre-norm uses less memory than post-norm",
    "Val loss is at least 10% lower with pre-norm vs post-norm",
])
def test_a_relative_or_two_arm_claim_stays_a_comparison(text):
    assert compile_prediction(text, SPACE, []).kind == "comparison"


def test_a_bound_with_a_value_of_no_factor_names_the_words():
    with pytest.raises(PredictionError) as err:
        compile_prediction("Val loss below 1.5 with sandwich-norm", SPACE, [])
    assert "'sandwich-norm' names no value of a factor" in str(err.value)
    assert "norm_position" in str(err.value)


def test_a_bound_with_a_value_of_two_factors_is_ambiguous():
    space = {"dropout": [0.1, 0.5], "dataset_fraction": [0.1, 0.5]}
    with pytest.raises(PredictionError, match="values of dropout, dataset_fraction"):
        compile_prediction("Val loss below 1.5 with 0.1", space, [])
    assert compile_prediction("Val loss below 1.5 with dropout 0.1", space, []).factor == "dropout"


@pytest.mark.parametrize("text, reason", [
    ("Peak memory under 2 GB", "unit 'gb' does not fit peak_memory_mb"),
    ("Val loss below 300 MB", "unit 'mb' does not fit final_val_loss"),
    ("Val loss below 1.5 and above 1.0", "more than one bound"),
    ("Val loss below 1.5 with pre-norm with 2 layers", "one arm"),
    ("Val loss below 1.5 with pre-norm and 2 layers", "values of norm_position, n_layer"),
])
def test_a_bound_that_cannot_be_read_exactly_is_refused(text, reason):
    with pytest.raises(PredictionError, match=reason):
        compile_prediction(text, SPACE, [])


# --- equivalences -------------------------------------------------------------------

_PRE_POST = dict(factor="norm_position", arm="pre", baseline="post")
EQUIVALENCES = [
    ("No difference in val loss between pre-norm and post-norm",
     dict(metric="final_val_loss", threshold=0.05, relative=True, **_PRE_POST)),
    ("pre-norm and post-norm reach the same val loss within 2%", dict(threshold=0.02, relative=True, **_PRE_POST)),
    ("val loss of pre-norm vs post-norm is equivalent within 0.05",
     dict(threshold=0.05, relative=False, **_PRE_POST)),
    ("learning rate 3e-4 vs 1e-4 makes no difference to final val loss at N > 2000",
     dict(factor="learning_rate", arm=3e-4, baseline=1e-4, condition=_cond("n_train_samples", ">", 2000))),
    ("Post-norm reaches the same val loss as pre-norm", dict(arm="post", baseline="pre")),
    ("Pre-norm is equivalent to post-norm in tokens per second (±3%)",
     dict(metric="tokens_per_s", threshold=0.03, relative=True, **_PRE_POST)),
    ("No significant difference in bits per byte between 2 and 4 layers within +/- 0.02",
     dict(metric="final_val_bpc", factor="n_layer", arm=2, baseline=4, threshold=0.02, relative=False)),
    ("pre-norm and post-norm converge equally fast", dict(metric="steps_to_target", **_PRE_POST)),
    ("Val loss is not different with pre-norm vs post-norm at lr 3e-4",
     dict(condition=_cond("learning_rate", "==", 3e-4), **_PRE_POST)),
    ("Norm position does not matter for val loss: pre-norm vs post-norm within 1 percent",
     dict(threshold=0.01, relative=True, **_PRE_POST)),
]


@pytest.mark.parametrize("text, expected", EQUIVALENCES, ids=[t for t, _ in EQUIVALENCES])
def test_equivalences_compile_to_the_expected_fields(text, expected):
    spec = compile_prediction(text, SPACE, [])
    assert spec.kind == "equivalence" and spec.direction == "lower"
    assert {key: getattr(spec, key) for key in expected} == expected


def test_an_equivalence_takes_the_first_named_value_as_its_arm():
    space = {**SPACE, "learning_rate": [1e-3, 3e-3]}
    text = "learning rate 1e-3 vs 3e-3 makes no difference to final val loss at N > 2000"
    assert compile_prediction(text, space, []) == PredictionSpec(
        kind="equivalence", metric="final_val_loss", factor="learning_rate", arm=1e-3, baseline=3e-3,
        threshold=0.05, relative=True, condition=_cond("n_train_samples", ">", 2000))


def test_the_same_in_a_directional_claim_does_not_make_it_an_equivalence():
    spec = compile_prediction("Val loss is 20% lower with pre-norm vs post-norm at the same depth", SPACE, [])
    assert (spec.kind, spec.threshold) == ("comparison", 0.2)


@pytest.mark.parametrize("text, reason", [
    ("No difference in val loss between sandwich-norm and post-norm", "'sandwich-norm' and 'post-norm'"),
    ("No difference in val loss", "no arms found"),
    ("No difference in val loss between pre-norm and post-norm within 0%", "needs a margin"),
    ("Same val loss with pre-norm vs post-norm within 2% and within 0.1", "more than one margin"),
])
def test_an_equivalence_that_cannot_be_read_exactly_is_refused(text, reason):
    with pytest.raises(PredictionError, match=reason):
        compile_prediction(text, SPACE, [])
