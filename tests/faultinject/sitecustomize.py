"""Loaded only when a reliability test puts this folder on PYTHONPATH: wraps
executor.train.train so that a run with experiment id `exp_<kind>` fails as
tests/faults.py says; other runs train for real."""
import os

if os.environ.get("RESEARCH_FAULT_INJECTION") == "1":
    from executor import train as _train
    from tests.faults import FAULTS, inject

    _real = _train.train

    def _faulty(config, dry_run=False, **kwargs):
        kind = config.experiment_id.removeprefix("exp_")
        if kind in FAULTS and kind != "nan":  # nan: the real trainer, at a learning rate that diverges
            inject(kind, config.metrics_path)
            return {}
        return _real(config, dry_run, **kwargs)

    _train.train = _faulty
