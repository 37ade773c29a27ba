"""The hypothesis file's `run:` section (and its flags) -> a validated `RunSpec`.

    run:
      command: python train.py --learning_rate={learning_rate} --seed={seed} --out_dir={run_dir}
      workdir: ../nanoGPT          # relative to the hypothesis file, or absolute
      metrics:
        stdout: 'step (?P<step>\\d+): train loss \\S+, val loss (?P<val_loss>\\S+)'
        # or  file: "{run_dir}/log.csv"   (JSON, JSON lines, or CSV with a header)
      steps: max_iters             # the factor that sets the run's length (optional)

Everything that can be checked before a run is checked here, each error naming the
file, the field and the value: a placeholder that is no factor, a declared factor that
reaches the script neither by a placeholder nor through the config file, a regular
expression that does not compile or has no metric group, a workdir that does not exist,
and a string value that would read as a flag.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from run_config import PLACEHOLDER, RESERVED, RunSpec

Text = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=4096)]


class RunError(ValueError):
    """A `run:` section (or its flags) that cannot be used; the message names the field."""


class _Metrics(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stdout: Text | None = None
    file: Text | None = None

    @model_validator(mode="after")
    def _one(self) -> "_Metrics":
        if (self.stdout is None) == (self.file is None):
            raise ValueError("give one of stdout (a regular expression) or file (a path the script writes)")
        return self


class _Run(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: Text
    workdir: Text | None = None
    metrics: _Metrics | None = None
    steps: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    grace_s: float = Field(10.0, ge=0, le=3600)


def section(raw: Any, args=None) -> dict | None:
    """The `run:` mapping of a parsed hypothesis file with the CLI's flags written over it
    (--command, --workdir, --metrics-stdout, --metrics-file, --steps-factor); None if neither.
    A --workdir is relative to where the loop starts, a written one to the file."""
    given = raw.get("run") if isinstance(raw, dict) else None
    flags = {k: getattr(args, a, None) for k, a in (("command", "command"), ("workdir", "workdir"),
                                                    ("steps", "steps_factor"))}
    metrics = {k: getattr(args, a, None) for k, a in (("stdout", "metrics_stdout"), ("file", "metrics_file"))}
    if given is None and not any(flags.values()) and not any(metrics.values()):
        return None
    if given is not None and not isinstance(given, dict):
        return {"__not_a_mapping__": given}
    if flags["workdir"]:
        flags["workdir"] = str(Path(flags["workdir"]).expanduser().resolve())
    out = {**(given or {}), **{k: v for k, v in flags.items() if v}}
    if any(metrics.values()):
        out["metrics"] = {k: v for k, v in metrics.items() if v}
    return out


def parse(raw: dict, path: str | Path, where: str = "run") -> RunSpec:
    """A `run:` mapping -> RunSpec; the workdir made absolute (relative to the file's folder)."""
    if "__not_a_mapping__" in raw:
        raise RunError(f"{path}: {where}: expected a mapping (command, workdir, metrics, steps), "
                       f"got {raw['__not_a_mapping__']!r}")
    try:
        run = _Run.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in (where, *first["loc"]))
        if first["type"] == "extra_forbidden":
            raise RunError(f"{path}: {loc}: unknown key; valid keys: command, workdir, metrics (stdout | file), "
                           "steps, grace_s") from None
        raise RunError(f"{path}: {loc}: {first['msg']} (got {str(first.get('input'))[:200]!r})") from None
    try:
        argv = tuple(shlex.split(run.command))
    except ValueError as e:
        raise RunError(f"{path}: {where}.command: cannot be split like a shell line ({e}): {run.command!r}") from None
    if not argv:
        raise RunError(f"{path}: {where}.command: empty")
    workdir = _workdir(run.workdir, path, where)
    stdout = run.metrics.stdout if run.metrics else None
    if stdout is not None:
        _check_pattern(stdout, path, f"{where}.metrics.stdout")
    return RunSpec(argv, workdir, stdout, run.metrics.file if run.metrics else None, run.steps, run.grace_s,
                   run.command)


def _workdir(given: str | None, path: str | Path, where: str) -> str | None:
    if given is None:
        return None
    folder = Path(given).expanduser()
    folder = folder if folder.is_absolute() else Path(path).resolve().parent / folder
    if not folder.is_dir():
        raise RunError(f"{path}: {where}.workdir: no such folder {given!r} (looked for {folder})")
    return str(folder.resolve())


def _check_pattern(text: str, path: str | Path, field: str) -> None:
    try:
        pattern = re.compile(text)
    except re.error as e:
        raise RunError(f"{path}: {field}: not a regular expression ({e}): {text!r}") from None
    groups = [g for g in pattern.groupindex if g != "step"]
    if not groups:
        raise RunError(f"{path}: {field}: no metric group: name what to read, e.g. (?P<val_loss>\\S+) "
                       f"(and (?P<step>\\d+) for a curve): {text!r}")


def metric_names(spec: RunSpec | None) -> list[str]:
    """The metrics a stdout pattern reports (final_<group>), which predictions may name."""
    if spec is None or spec.stdout is None:
        return []
    groups = [g for g in re.compile(spec.stdout).groupindex if g != "step"]
    return [g if g.startswith("final_") else f"final_{g}" for g in groups]


def check_against(spec: RunSpec, config: dict[str, Any], path: str | Path, where: str = "run") -> None:
    """The command against the declared factors (`config`: initial_config, typed)."""
    names = spec.names()
    unknown = sorted(names - set(config) - set(RESERVED))
    if unknown:
        raise RunError(f"{path}: {where}.command: {{{unknown[0]}}} is no factor of initial_config "
                       f"({', '.join(sorted(config)) or 'none'}) nor one of {', '.join(RESERVED)}")
    factors_named = names & set(config)
    if factors_named and "config" not in names:
        missing = sorted(set(config) - names)
        if missing:
            raise RunError(f"{path}: hypothesis.initial_config.{missing[0]}: declared, but the command passes "
                           f"neither {{{missing[0]}}} nor {{config}}, so the script would never see it; "
                           f"add e.g. --{missing[0]}={{{missing[0]}}} to {where}.command")
    if spec.steps is not None:
        values = config.get(spec.steps)
        if values is None:
            raise RunError(f"{path}: {where}.steps: {spec.steps!r} is no factor of initial_config")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in _each(values)):
            raise RunError(f"{path}: {where}.steps: {spec.steps} takes {values!r}, not whole numbers of steps")
    for arg in spec.argv:
        whole = PLACEHOLDER.fullmatch(arg)
        name = whole[1] if whole else None
        for value in _each(config.get(name)) if name in config else ():
            if isinstance(value, str) and value.startswith("-"):
                raise RunError(f"{path}: hypothesis.initial_config.{name}: {value!r} would read as a flag where "
                               f"{where}.command passes {arg} as an argument of its own; write --{name}={arg}")
    if spec.file is not None:
        bad = sorted({m[1] for m in PLACEHOLDER.finditer(spec.file) if m[1] is not None} - {"run_dir", "experiment_id"})
        if bad:
            raise RunError(f"{path}: {where}.metrics.file: {{{bad[0]}}}: only {{run_dir}} and {{experiment_id}} "
                           f"may stand in its path")


def _each(value) -> list:
    return list(value) if isinstance(value, list) else [value]


def load(path: str | Path, args=None) -> RunSpec | None:
    """The file's `run:` section with the flags over it, parsed; None when neither says anything."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raw = None  # the hypothesis loader says what is wrong with the file
    found = section(raw, args)
    if found is None:
        return None
    where = "run" if isinstance(raw, dict) and "run" in raw else "--command/--metrics-*"
    return parse(found, path, where)


def written(spec: RunSpec) -> dict:
    """The spec as a `run:` section for the run directory's copy of the file (workdir absolute)."""
    out: dict[str, Any] = {"command": spec.text or shlex.join(spec.argv)}
    if spec.workdir:
        out["workdir"] = spec.workdir
    if spec.stdout or spec.file:
        out["metrics"] = {"stdout": spec.stdout} if spec.stdout else {"file": spec.file}
    if spec.steps:
        out["steps"] = spec.steps
    if spec.grace_s != 10.0:
        out["grace_s"] = spec.grace_s
    return out
