"""The training config: one frozen dataclass, written to disk as data.

Stdlib only: the training subprocess imports this, and it must stay cheap and free
of anything the loop uses (pydantic, scipy). A config is written twice, as JSON and
as a Python dataclass file whose values are `repr` of validated primitives; reading
the `.py` back uses `ast.literal_eval`, so the file is never executed.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class TrainConfig:
    experiment_id: str = "exp_0000"
    model: str = "transformer_small"
    dataset: str = "synthetic"
    data_dir: str | None = None  # local copy of the corpus; None = cache/download
    norm_position: str = "pre"  # pre | post
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    dropout: float = 0.0
    n_layer: int | None = None  # None = the model's default
    d_model: int | None = None
    # Architecture and optimizer flags; each default is the trainer as it was before them.
    n_head: int | None = None  # None = the model's default; must divide d_model
    norm_type: str = "layernorm"  # layernorm | rmsnorm
    activation: str = "gelu"  # gelu | relu | swiglu
    pos_encoding: str = "learned"  # learned | rope
    optimizer: str = "adamw"  # adamw | adam | sgd (momentum 0.9) | rmsprop | adagrad
    lr_schedule: str = "constant"  # constant | cosine | linear: the shape after warmup_steps
    grad_clip: float = 1.0  # max global grad norm; 0 = off
    dataset_fraction: float = 1.0
    # Which chunks a fraction < 1 keeps: drawn from the run's seed ("seed": replicates
    # cover data sampling, both arms of a pair share it), or one subset for all ("fixed").
    data_subset: str = "seed"
    seq_len: int = 256
    batch_size: int = 32
    max_steps: int = 1000
    eval_interval: int = 50
    eval_batches: int = 4
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 (autocast around forward + loss; fp32 weights)
    compile: bool = False  # torch.compile the model's training step
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # CUDA_VISIBLE_DEVICES for the run, set before any CUDA call (one GPU per parallel
    # worker); None = inherit. The listed GPUs are renumbered from 0, so "cuda" = the first.
    cuda_devices: str | None = None
    threads: int = 0  # torch intra-op threads; 0 = leave torch's default
    metrics_path: str = "metrics.json"
    # Stop at the first evaluation whose val loss is at or below this: the convergence
    # target fixed before the run, set by the loop only when nothing a prediction reads
    # comes after it (parser/checker/early_stop.py). None = train to max_steps.
    stop_at_loss: float | None = None
    # Plugin modules (paths or module names, os.pathsep-joined) the trainer loads before it
    # reads the rest: the loop's --plugin and the hypothesis' `plugins:`.
    plugins: str = ""
    # The factors a study of the user's own script declares (comma-joined): all that the
    # script is handed and its record logs (`handed`). "" = the built-in trainer's run.
    declared: str = ""
    # The researcher's own factors (name -> scalar): a command backend's script reads them,
    # a plugin model declares them. Flat beside the built-in fields in every file and record.
    user_factors: dict = field(default_factory=dict, hash=False)


# Keys the experiment design may vary; the rest are plumbing set by the loop.
PLUMBING = ("experiment_id", "data_dir", "device", "cuda_devices", "threads", "metrics_path", "stop_at_loss",
            "plugins", "declared")
_NOT_FACTORS = (*PLUMBING, "user_factors")
FACTORS = tuple(f.name for f in fields(TrainConfig) if f.name not in _NOT_FACTORS)
FIELD_TYPES = {f.name: f.type for f in fields(TrainConfig) if f.name != "user_factors"}
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 200  # a user factor's string value: a name, not a document
# Factors that take one of a few named values. The trainer refuses anything else
# before it loads data; `check_value` is the same test for whoever reads a config
# earlier (a hypothesis file), so a bad value fails before any run is spent on it.
CHOICES = {
    "norm_position": ("pre", "post"),
    "norm_type": ("layernorm", "rmsnorm"),
    "activation": ("gelu", "relu", "swiglu"),
    "pos_encoding": ("learned", "rope"),
    "optimizer": ("adamw", "adam", "sgd", "rmsprop", "adagrad"),
    "lr_schedule": ("constant", "cosine", "linear"),
    "precision": ("fp32", "bf16"),
    "compile": (False, True),
    "data_subset": ("seed", "fixed"),
}


@dataclass(frozen=True)
class Range:
    """The numbers a field may take: low <= x <= high, or strict where `*_open`; None = unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, x: float) -> bool:
        above = self.low is None or (x > self.low if self.low_open else x >= self.low)
        below = self.high is None or (x < self.high if self.high_open else x <= self.high)
        return above and below

    def text(self) -> str:
        low, high = (n if n is None or isinstance(n, int) else f"{n:g}" for n in (self.low, self.high))
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {high}"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


# The one table of numeric ranges: the hypothesis loader (and --set) and the trainer's
# config reader both check against it. Upper bounds on sizes are sanity bounds that no
# run on one device can use (a batch of 10^8 sequences); the trainer also refuses, before
# allocating, a batch whose activations cannot fit in the device's free memory.
RANGES = {
    "learning_rate": Range(0, low_open=True),
    "weight_decay": Range(0),
    "warmup_steps": Range(0),
    "dropout": Range(0, 1, high_open=True),
    "n_layer": Range(1, 1024),
    "n_head": Range(1, 1024),
    "grad_clip": Range(0),  # 0 = off
    "d_model": Range(1, 65536),
    "dataset_fraction": Range(0, 1, low_open=True),
    "seq_len": Range(1, 65536),
    "batch_size": Range(1, 65536),
    "max_steps": Range(1),
    "eval_interval": Range(1),
    "eval_batches": Range(1),
    "seed": Range(0, 2**32 - 1),  # numpy's generators take seeds below 2^32
    "threads": Range(0, 4096),
}


def check_value(key: str, value) -> None:
    """Raise ValueError naming the field and the value if `value` is not allowed for `key`."""
    allowed = CHOICES.get(key)
    # `True in (1, ...)` holds in Python: compare types too, so compile=1 is refused.
    if allowed is not None and not any(value == a and type(value) is type(a) for a in allowed):
        raise ValueError(f"{key}: {value!r} is not one of {', '.join(map(repr, allowed))}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key}: must be a finite number, got {value!r}")
    bounds = RANGES.get(key)
    if bounds is not None and isinstance(value, (int, float)) and not bounds.holds(value):
        raise ValueError(f"{key}: must be {bounds.text()}, got {value!r}")


def is_factor(key: str) -> bool:
    """A key of a flat config that the design varies: a built-in factor or a user factor."""
    return key not in _NOT_FACTORS


def check_factor_name(key) -> None:
    """ValueError unless `key` may name a user factor: an identifier, no dunder, not a built-in field."""
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) \
            or len(key) > MAX_NAME_CHARS:
        raise ValueError(f"{str(key)[:80]!r} is not a factor name: an identifier (letters, digits, '_'; "
                         f"at most {MAX_NAME_CHARS} characters)")
    if key.startswith("__"):
        raise ValueError(f"{key}: a dunder name cannot be a factor")
    if key in _NOT_FACTORS:
        raise ValueError(f"{key}: set by the loop, not a factor")
    if key in FIELD_TYPES:
        raise ValueError(f"{key}: a built-in field of the trainer, not a user factor")


def check_user_factor(key, value) -> None:
    """ValueError unless `key` may name a user factor and `value` is one of its scalar values:
    a bool, an int, a finite float or a non-empty string of at most MAX_VALUE_CHARS."""
    check_factor_name(key)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key}: must be a finite number, got {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{key}: an empty string")
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"{key}: a string of {len(value)} characters; at most {MAX_VALUE_CHARS}")
    if not isinstance(value, (bool, int, float, str)):
        raise ValueError(f"{key}: a factor value is a string, number or bool, got {type(value).__name__}")


def _type_ok(kind: str, value) -> bool:
    """`value` is of the field type `kind` ("int | None", "float", ...); an int is a float too."""
    kinds = [k.strip() for k in kind.split("|")]
    if value is None or isinstance(value, bool):
        return ("None" if value is None else "bool") in kinds
    return any({"int": isinstance(value, int), "float": isinstance(value, (int, float)),
                "str": isinstance(value, str)}.get(k, False) for k in kinds)


def check(config: TrainConfig) -> None:
    """Every field of `config` against its type, CHOICES and RANGES, and every user factor
    as `check_user_factor`; ValueError naming the first bad one."""
    for f in fields(config):
        if f.name == "user_factors":
            continue
        value = getattr(config, f.name)
        check_value(f.name, value)
        if not _type_ok(f.type, value):
            raise ValueError(f"{f.name}: expected {f.type}, got {value!r}")
    for key, value in config.user_factors.items():
        check_user_factor(key, value)


def to_dict(config: TrainConfig) -> dict:
    """Every field and user factor, flat: {"model": ..., "learning_rate": ..., "hidden": 64}."""
    values = dataclasses.asdict(config)
    user = values.pop("user_factors")
    return {**values, **user}


def from_dict(values: dict, user_factors: bool = True) -> TrainConfig:
    """A flat dict (as `to_dict` writes) -> TrainConfig; keys that are no field are user
    factors, or (`user_factors=False`) an error."""
    unknown = sorted(set(values) - set(FIELD_TYPES))
    if unknown and not user_factors:
        raise ValueError(f"unknown config key(s) {unknown}; valid keys: {sorted(FIELD_TYPES)}")
    config = TrainConfig(**{k: v for k, v in values.items() if k in FIELD_TYPES},
                         user_factors={k: values[k] for k in unknown})
    check(config)
    return config


def render_python(config: TrainConfig) -> str:
    """The config as a dataclass module. Only primitives are rendered, with repr."""
    types = {**FIELD_TYPES, **{k: type(v).__name__ for k, v in config.user_factors.items()}}
    return _render(to_dict(config), types)


def _render(values: dict, types: dict) -> str:
    lines = [
        '"""Experiment config, generated by the research loop. Data only: edit the JSON twin."""',
        "from dataclasses import dataclass",
        "",
        "",
        "@dataclass(frozen=True)",
        "class Config:",
    ]
    for name, value in values.items():
        if not (value is None or isinstance(value, (bool, int, float, str))):
            raise TypeError(f"config field {name} holds a {type(value).__name__}, not a primitive")
        lines.append(f"    {name}: {types.get(name) or type(value).__name__} = {value!r}")
    lines += ["", "", "CONFIG = Config()", ""]
    return "\n".join(lines)


def handed(config: TrainConfig) -> dict:
    """What the user's own script is handed and the log records of its run: the factors
    the study declares (`config.declared`), the seed and the run's id; the built-in
    trainer's defaults stay its own. A config that declares nothing (one written by hand
    for a backend) is handed whole."""
    values = to_dict(config)
    if not config.declared:
        return values
    keep = [k for k in config.declared.split(",") if k in values and k not in ("seed", "experiment_id")]
    return {**{k: values[k] for k in keep}, "seed": config.seed, "experiment_id": config.experiment_id}


def write_values(values: dict, directory: Path, experiment_id: str) -> tuple[Path, Path]:
    """Write flat `values` as `<id>.py` and `<id>.json` into `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    py_path, json_path = directory / f"{experiment_id}.py", directory / f"{experiment_id}.json"
    py_path.write_text(_render(values, {}))
    json_path.write_text(json.dumps(values, indent=2) + "\n")
    return py_path, json_path


def read_python(text: str) -> dict:
    """Values of a rendered config module, by literal evaluation (nothing runs)."""
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Config":
            return {
                stmt.target.id: ast.literal_eval(stmt.value)
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            }
    raise ValueError("no `class Config` in the config file")


def read(path: str | Path) -> dict:
    """A config file's flat values, unchecked: its `.json`, or its `.py` read as literals."""
    path = Path(path)
    text = path.read_text()
    return read_python(text) if path.suffix == ".py" else json.loads(text)


def load(path: str | Path) -> TrainConfig:
    """Read a config from its `.json` or `.py` file."""
    return from_dict(read(path))


def write(config: TrainConfig, directory: Path) -> tuple[Path, Path]:
    """Write `<id>.py` and `<id>.json` into `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    py_path = directory / f"{config.experiment_id}.py"
    json_path = directory / f"{config.experiment_id}.json"
    py_path.write_text(render_python(config))
    json_path.write_text(json.dumps(to_dict(config), indent=2) + "\n")
    return py_path, json_path
