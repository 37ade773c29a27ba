"""A hypothesis' `initial_config` -> typed factor values, checked against what will run them.

Built-in factors (run_config.py's TrainConfig fields) keep their types, choices and
ranges. Any other key that is an identifier is a user factor with scalar values
(`check_user_factor`). Who runs the study decides what else holds:
- the built-in trainer runs registered models and datasets (a plugin's among them, or a
  local text corpus by path) and only the user factors a plugin model declares;
- the user's own code (`--executor command`, also under Ray; the simulator) takes any
  model and dataset name and every user factor, passed through in the config.
Errors are `FactorError`s naming the field; parser/hypothesis.py adds the file.
"""
from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

from run_config import FACTORS, FIELD_TYPES, TrainConfig, check_factor_name, check_user_factor, check_value
from parser import ranges

WHERE = "hypothesis.initial_config"
# YAML 1.1 reads 1e-4 (no dot) as a string; a user factor's number written so is a number.
_EXPONENT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class FactorError(ValueError):
    """A bad initial_config entry; `field` is its path (hypothesis.initial_config.x[1], --set x)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def typed_config(config: dict, overridden: set[str] = frozenset(), builtin: bool = True,
                 needs_model: bool = True) -> dict[str, Any]:
    """Every entry typed: a list varies the factor, a scalar fixes it. `builtin`: the
    built-in trainer runs the study, so models, datasets and user factors must be ones it
    can run. `needs_model`: False for a script of the user's (a `run:` section), which
    needs no model or dataset named."""
    field = lambda key: f"--set {key}" if key in overridden else f"{WHERE}.{key}"  # noqa: E731
    for key in ("model", "dataset") if builtin or needs_model else ():
        if key not in config:
            raise FactorError(f"{WHERE}.{key}", f"missing; the run needs a {key}")
    for key in config:
        if key not in FACTORS:
            try:
                check_factor_name(key)
            except ValueError as e:
                raise FactorError(field(key), str(e).removeprefix(f"{key}: ")) from None
    typed = {key: _typed_value(key, value, field(key)) for key, value in config.items()}
    if builtin:
        typed = _check_registries(typed)
        _check_user_factors(typed, field)
        typed = _declared_types(typed, field)
    _check_combinations(typed)
    return typed


def ranges_of(config: dict, overridden: set[str] = frozenset()) -> dict[str, ranges.FactorRange]:
    """Each factor given as {low, high, ...}, validated: a numeric built-in field with its ends inside the
    field's own range, or a factor of the user's (integer when both ends are)."""
    out = {}
    for key, value in config.items():
        if not ranges.is_range(value):
            continue
        field = f"--set {key}" if key in overridden else f"{WHERE}.{key}"
        own = key not in FIELD_TYPES  # a factor of the user's: integer when its ends (and step) are
        kinds = ["int"] if own and all(_is_int(value.get(k, 1)) for k in ("low", "high", "step")) else \
            ["float"] if own else [t.strip() for t in FIELD_TYPES[key].split("|")]
        if "int" not in kinds and "float" not in kinds:
            raise FactorError(field, f"a range needs a numeric field; {key} takes {FIELD_TYPES[key]}")
        try:
            span = ranges.parse(value, integer="float" not in kinds)
            for end in (span.low, span.high) if not own else ():
                check_value(key, int(end) if span.integer else end)
        except ValueError as e:
            raise FactorError(field, str(e).removeprefix(f"{key}: ")) from None
        out[key] = span
    return out


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def user_factors(config: dict) -> list[str]:
    """The keys of a config that are the researcher's own factors, not built-in fields."""
    return [k for k in config if k not in FIELD_TYPES]


def _typed_value(key: str, value: Any, field: str) -> Any:
    if not isinstance(value, list):
        return _coerce(key, value, field)
    if not value:
        raise FactorError(field, "an empty list (got [])")
    typed = [_coerce(key, item, f"{field}[{i}]") for i, item in enumerate(value)]
    for i, item in enumerate(typed):
        if item in typed[:i]:  # 1e-4 and 0.0001 are the same run, twice
            raise FactorError(field, f"duplicate value {value[i]!r} (= {item!r})")
    return typed


def _coerce(key: str, value: Any, field: str) -> Any:
    if key not in FACTORS:
        return _user_value(key, value, field)
    kinds = [t.strip() for t in FIELD_TYPES[key].split("|")]
    if value is None and "None" in kinds:
        return None
    for kind in kinds:
        convert = _CONVERTERS.get(kind)
        if convert is not None and not isinstance(value, (list, dict)):
            try:
                converted = convert(value)
            except (TypeError, ValueError):
                continue
            try:
                check_value(key, converted)  # run_config.py's choices and ranges, as the trainer checks
            except ValueError as e:
                raise FactorError(field, str(e).removeprefix(f"{key}: ")) from None
            return converted
    raise FactorError(field, f"expected {FIELD_TYPES[key]}, got {show(value)}")


def _user_value(key: str, value: Any, field: str) -> Any:
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        value = float(value)
    try:
        check_user_factor(key, value)
    except ValueError as e:
        message = str(e).removeprefix(f"{key}: ")
        if isinstance(value, (dict, list)):
            message = f"a factor's values are scalars (a list of them varies it), got {show(value)}"
        raise FactorError(field, message) from None
    return value


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(value)
    number = float(value)  # YAML reads 1e-4 as the string '1e-4'
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _to_float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def _to_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(value)
    return value


def _to_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(value)
    return value


_CONVERTERS = {"float": _to_float, "int": _to_int, "str": _to_str, "bool": _to_bool}

_ELSEWHERE = ("to run your own training script, use --executor command --command \"python train.py\"; "
              "to run it in the built-in trainer, register it with --plugin (see docs/plugins.md)")


def _check_registries(config: dict[str, Any]) -> dict[str, Any]:
    """Models and datasets the built-in trainer has; a local corpus' path made absolute
    (training processes may start elsewhere)."""
    # Imported here: the registries pull in code the rest of parsing never needs.
    import datasets
    import models

    for key, known in (("model", models.model_names), ("dataset", datasets.dataset_names)):
        for field, name in each(config[key], f"{WHERE}.{key}"):
            if key == "dataset" and datasets.is_local_path(name):
                if not Path(name).expanduser().exists():
                    raise FactorError(field, f"no such file or folder {name!r} (a local text corpus)")
                continue
            if name not in known():
                raise FactorError(field, f"the built-in trainer has no {key} {name!r} (registered: "
                                         f"{', '.join(known())}); {_ELSEWHERE}")
    absolute = lambda n: str(Path(n).expanduser().resolve()) if datasets.is_local_path(n) else n  # noqa: E731
    dataset = config["dataset"]
    return dict(config, dataset=[absolute(n) for n in dataset] if isinstance(dataset, list) else absolute(dataset))


def _check_user_factors(config: dict[str, Any], field) -> None:
    import difflib

    import models

    for key in user_factors(config):
        for name in _values(config["model"]):
            if key not in models.declared_factors(name):
                near = difflib.get_close_matches(key, FACTORS, n=1)
                owner = f"model {name!r} does not declare it" if models.is_plugin(name) else \
                    "not a built-in field" + (f"; did you mean {near[0]}?" if near else "")
                raise FactorError(field(key), f"the built-in trainer has no factor {key!r} ({owner}); "
                                              f"{_ELSEWHERE}")


def _declared_types(config: dict[str, Any], field) -> dict[str, Any]:
    """A plugin model's factors typed and checked against its declaration (choices, range)."""
    import models

    typed = dict(config)
    for key in user_factors(config):
        declared = [models.declared_factors(name)[key] for name in _values(config["model"])]
        out = []
        for where, value in each(config[key], field(key)):
            try:
                out.append([factor.check(value) for factor in declared][0])
            except ValueError as e:
                raise FactorError(where, str(e)) from None
        typed[key] = out if isinstance(config[key], list) else out[0]
    return typed


def _check_combinations(config: dict[str, Any]) -> None:
    """Values that are valid alone but not together: sizes the model cannot take, and
    sequences longer than a corpus's train split (where its size is known)."""
    import datasets
    import models

    grid = {key: _values(value) for key, value in config.items()}
    for name, n_layer, d_model, n_head in itertools.product(
            grid.get("model", []), grid.get("n_layer", [None]), grid.get("d_model", [None]), grid.get("n_head", [None])):
        if name not in models.MODELS or models.is_plugin(name):
            continue  # the user's own model: its sizes are its business
        try:
            models.resolve_sizes(name, n_layer, d_model, n_head)
        except ValueError as e:
            key = next(k for k in ("d_model", "n_head", "n_layer") if f"{k}" in str(e))
            raise FactorError(f"{WHERE}.{key}", f"{e} (model {name})") from None
    for name, seq_len in itertools.product(grid.get("dataset", []), grid.get("seq_len", [TrainConfig.seq_len])):
        if not datasets.is_known(name):
            continue
        try:
            datasets.check_seq_len(name, seq_len)
        except ValueError as e:
            raise FactorError(f"{WHERE}.seq_len", str(e)) from None


def _values(value: Any) -> list:
    return list(value) if isinstance(value, list) else [value]


def each(value: Any, field: str) -> list[tuple[str, Any]]:
    if isinstance(value, list):
        return [(f"{field}[{i}]", item) for i, item in enumerate(value)]
    return [(field, value)]
