"""What one run is: the contract every stage reads, and no stage owns.

- `TrainConfig`: the run's config, one frozen dataclass. The factors a design may vary,
  the plumbing the loop sets, and the researcher's own factors (`user_factors`).
- `CHOICES` and `RANGES`: the one table of allowed values. A value is checked against
  it once at each process boundary: when the loop reads the hypothesis (and --set),
  and when a training process reads its config file (executor/config_file.py).
- `RunSpec`: how the researcher's own script is started and where its numbers appear
  (the hypothesis file's `run:` section, validated by parser/run_spec.py).
- `convergence_target`: when a loss curve has converged, the one definition the
  trainer, the simulator and the checker share.

Stdlib only: the training subprocess and a Ray node import this, and it must stay cheap
and free of anything the loop uses (pydantic, scipy, torch).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields


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


def allowed(default, *values, low=None, high=None, low_open=False, high_open=False):
    """A field's default and the values it may take: named `values`, or a number in
    [low, high] (strict where `*_open`). This is the one table of allowed values: the
    hypothesis loader (and --set) and the trainer's config reader both check against it."""
    metadata = {"choices": values} if values else {}
    if low is not None or high is not None:
        metadata["range"] = Range(low, high, low_open, high_open)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """One run. Upper bounds on sizes are sanity bounds that no run on one device can use
    (a batch of 10^8 sequences); the trainer also refuses, before allocating, a batch
    whose activations cannot fit in the device's free memory."""

    experiment_id: str = "exp_0000"
    model: str = "transformer_small"
    dataset: str = "synthetic"
    data_dir: str | None = None  # local copy of the corpus; None = cache/download
    norm_position: str = allowed("pre", "pre", "post")
    learning_rate: float = allowed(3e-4, low=0, low_open=True)
    weight_decay: float = allowed(0.0, low=0)
    warmup_steps: int = allowed(0, low=0)
    dropout: float = allowed(0.0, low=0, high=1, high_open=True)
    n_layer: int | None = allowed(None, low=1, high=1024)  # None = the model's default
    d_model: int | None = allowed(None, low=1, high=65536)
    # Architecture and optimizer flags; each default is the trainer as it was before them.
    # The model (models/transformer.py) reads them from the config it is built with.
    n_head: int | None = allowed(None, low=1, high=1024)  # None = the model's default; must divide d_model
    norm_type: str = allowed("layernorm", "layernorm", "rmsnorm")
    activation: str = allowed("gelu", "gelu", "relu", "swiglu")
    pos_encoding: str = allowed("learned", "learned", "rope")
    qk_norm: bool = allowed(False, False, True)  # q and k of each head at unit RMS before attention
    # sgd has momentum 0.9
    optimizer: str = allowed("adamw", "adamw", "adam", "sgd", "rmsprop", "adagrad")
    lr_schedule: str = allowed("constant", "constant", "cosine", "linear")  # the shape after warmup_steps
    grad_clip: float = allowed(1.0, low=0)  # max global grad norm; 0 = off
    dataset_fraction: float = allowed(1.0, low=0, high=1, low_open=True)
    # Which chunks a fraction < 1 keeps: drawn from the run's seed ("seed": replicates
    # cover data sampling, both arms of a pair share it), or one subset for all ("fixed").
    data_subset: str = allowed("seed", "seed", "fixed")
    seq_len: int = allowed(256, low=1, high=65536)
    batch_size: int = allowed(32, low=1, high=65536)
    max_steps: int = allowed(1000, low=1)
    eval_interval: int = allowed(50, low=1)
    eval_batches: int = allowed(4, low=1)
    seed: int = allowed(0, low=0, high=2**32 - 1)  # numpy's generators take seeds below 2^32
    # bf16: autocast around forward + loss; fp32 weights
    precision: str = allowed("fp32", "fp32", "bf16")
    compile: bool = allowed(False, False, True)  # torch.compile the model's training step
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # CUDA_VISIBLE_DEVICES for the run, set before any CUDA call (one GPU per parallel
    # worker); None = inherit. The listed GPUs are renumbered from 0, so "cuda" = the first.
    cuda_devices: str | None = None
    threads: int = allowed(0, low=0, high=4096)  # torch intra-op threads; 0 = chosen for the free cores
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
# The table's two views. The trainer refuses anything outside them before it loads
# data; `check_value` is the same test for whoever reads a config earlier (a hypothesis
# file), so a bad value fails before any run is spent on it.
CHOICES = {f.name: f.metadata["choices"] for f in fields(TrainConfig) if "choices" in f.metadata}
RANGES = {f.name: f.metadata["range"] for f in fields(TrainConfig) if "range" in f.metadata}


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


# The user's own script: how it is started (its `run:` section).
RESERVED = ("seed", "run_dir", "config", "metrics", "experiment_id")  # placeholders that are no factor
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass(frozen=True)
class RunSpec:
    """How to run the script. `argv`: the command split like a shell line, placeholders
    still in; `workdir`: where it runs (absolute; None = here); `stdout`: a regular
    expression with named groups, or `file`: the path (placeholders allowed, relative to
    the workdir) of a metrics file it writes; neither: the RESEARCH_METRICS JSON contract.
    `steps`: the factor that sets the run's length; `grace_s`: SIGTERM to SIGKILL."""

    argv: tuple[str, ...]
    workdir: str | None = None
    stdout: str | None = None
    file: str | None = None
    steps: str | None = None
    grace_s: float = 10.0
    text: str = ""  # the command as written, for the record's identity

    def names(self) -> set[str]:
        """Every `{name}` in the command."""
        return {m[1] for a in self.argv for m in PLACEHOLDER.finditer(a) if m[1] is not None}

    @property
    def reads_output(self) -> bool:
        return self.stdout is not None or self.file is not None


# Convergence: when a validation-loss curve has converged.
CONVERGED = 0.1  # converged once within 10% of the total improvement of the best loss


def convergence_target(start: float, best: float) -> float:
    """The loss a run has converged at: best + 0.1 (start - best), the start clamped to >= best."""
    return best + CONVERGED * max(start - best, 0.0)


def convergence_step(val_curve: list[list[float]]) -> int:
    """First eval step whose val loss is within 10% of the total improvement of the best."""
    best = min(loss for _, loss in val_curve)
    target = convergence_target(val_curve[0][1], best)
    return next(int(step) for step, loss in val_curve if loss <= target)
