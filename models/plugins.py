"""Plugins: the researcher's own models and datasets for the built-in trainer.

A plugin is a Python file or an importable module that registers, when imported, a
model builder (`models.register_model`) and/or a dataset loader
(`datasets.register_dataset`). It is named by the user only: `--plugin PATH_OR_MODULE`
(repeatable), a hypothesis' `plugins:` list, or an installed package's entry point in
the group `research_loop.plugins` (pyproject: `[project.entry-points."research_loop.plugins"]
mine = "my_package.plugin"`), which load wherever the trainer does. Never from an LLM
reply: nothing here reads one. The loop imports each plugin before it validates the
hypothesis; every training process (forkserver child, `python -m executor.train`, a Ray
task) imports the same list from the run's config (`plugins`) before reading the rest.
Stdlib only, as the rest of the trainer's contract.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path

GROUP = "research_loop.plugins"
_loaded: dict[str, object] = {}  # spec as loaded -> module: a plugin registers once per process


class PluginError(Exception):
    """A plugin that cannot be found or raised while importing; the message says which and why."""


def load(specs: list[str], base: Path | None = None) -> list[str]:
    """Import each plugin once: a path to a .py file (relative to `base`, else the working
    directory) or a module name. Returns the specs as a training process loads them
    (paths made absolute)."""
    return [_load_one(spec, base) for spec in specs]


def load_installed() -> list[str]:
    """Import every installed package's entry point in GROUP; their names."""
    names = []
    for point in metadata.entry_points(group=GROUP):
        key = f"entry point {point.name} ({point.value})"
        if key not in _loaded:
            _loaded[key] = _checked(key, point.load)
        names.append(point.name)
    return names


def joined(specs: list[str]) -> str:
    """The specs as TrainConfig.plugins holds them."""
    return os.pathsep.join(specs)


def load_config_plugins(value: str) -> None:
    """A training process: the installed entry points, then the config's `plugins`."""
    load_installed()
    load([s for s in value.split(os.pathsep) if s])


def _load_one(spec: str, base: Path | None) -> str:
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = Path(spec) if Path(spec).is_absolute() or base is None else base / spec
        path = path.resolve()
        if not path.is_file():
            raise PluginError(f"plugin {spec!r}: no such file ({path})")
        key = str(path)
        if key not in _loaded:
            _loaded[key] = _checked(key, lambda: _import_file(path))
        return key
    if spec not in _loaded:
        _loaded[spec] = _checked(spec, lambda: importlib.import_module(spec))
    return spec


def _checked(key: str, do):
    """Import, then check the models it registered; a bad one is taken out of the registry."""
    import models
    from run_config import check_user_factor

    before = set(models.MODELS)
    module = _imported(key, do)
    for name in sorted(set(models.MODELS) - before):
        for factor in models.declared_factors(name).values():
            try:  # a plugin model's factors are user factors: no built-in field's name, valid defaults
                check_user_factor(factor.name, factor.default)
                factor.check(factor.default)
            except ValueError as err:
                for added in set(models.MODELS) - before:
                    models.MODELS.pop(added)
                raise PluginError(f"plugin {key!r}: model {name!r} declares a bad factor: {err}") from None
    return module


def _import_file(path: Path):
    name = f"research_plugin_{path.stem}_{abs(hash(str(path))) % 10**8}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _imported(key: str, do):
    try:
        return do()
    except ModuleNotFoundError as err:
        raise PluginError(f"plugin {key!r}: cannot import it: {err}") from None
    except Exception as err:  # noqa: BLE001 (the user's code: whatever it raised is its error)
        raise PluginError(f"plugin {key!r} raised {type(err).__name__}: {err}") from None
